package loadgen

import (
	"math"
	"testing"
	"testing/synctest"
	"time"
)

// An open run lasts its schedule, not to its last response: -q 1 -z 3s
// is 3 requests in 3 s (it was 2.018 s, 1.5 req/s), and a run on
// schedule, a ramp as much as a constant rate, achieves its target
// exactly (the ramp's was 87.1 of 83.3 req/s).
func TestOpenRunLastsItsSchedule(t *testing.T) {
	tests := []struct {
		name     string
		plan     Plan
		requests int64
		length   time.Duration
	}{
		{"constant", Plan{Connections: 2, Rate: 1, Duration: 3 * time.Second}, 3, 3 * time.Second},
		{"count", Plan{Connections: 2, Rate: 4, Requests: 6}, 6, 1500 * time.Millisecond},
		{"ramp", Plan{Connections: 8, Rate: 100, RateStages: []Stage{
			{Duration: time.Second, Target: 100},
			{Duration: time.Second, Target: 100},
			{Duration: time.Second, Target: 0},
		}}, 250, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, err := Run(t.Context(), fakePlan(tt.plan, constant(18*time.Millisecond)))
				if err != nil {
					t.Fatal(err)
				}
				g := s.Generator
				if s.Requests != tt.requests || s.Elapsed != tt.length || s.Interrupted {
					t.Errorf("%d requests in %v (interrupted %v); want %d in %v",
						s.Requests, s.Elapsed, s.Interrupted, tt.requests, tt.length)
				}
				if math.Abs(g.AchievedRate-g.TargetRate) > 1e-9*g.TargetRate || len(g.Warnings) != 0 {
					t.Errorf("achieved %v of %v req/s, warnings %q; want the target exactly, none",
						g.AchievedRate, g.TargetRate, g.Warnings)
				}
			})
		})
	}
}
