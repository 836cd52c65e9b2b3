package report

import (
	"bytes"
	"strings"
	"testing"
)

// A run's engine is saved, and merged runs keep it when they agree, or
// say "mixed" and name each when they differ, in text and JSON; a run
// saved without one (an older gather) leaves it to the others.
func TestEngineSavedAndMerged(t *testing.T) {
	t.Parallel()
	const loops, goroutines = "2 event loops, own HTTP/1.1 client", "10 goroutines, own HTTP/1.1 client"
	run := func(seed uint64, engine string) *Summary {
		s := cutRun(t, seed, 0)
		s.Generator.Engine = engine
		return roundTrip(t, s)
	}
	for _, tt := range []struct {
		name    string
		engines []string
		want    string
	}{
		{"agree", []string{loops, loops, loops}, loops},
		{"differ", []string{loops, goroutines, loops}, "mixed: " + loops + "; " + goroutines},
		{"one unknown", []string{"", loops}, loops},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := run(1, tt.engines[0])
			for i, e := range tt.engines[1:] {
				if err := a.Add(run(uint64(i+2), e)); err != nil {
					t.Fatal(err)
				}
			}
			if a.Generator.Engine != tt.want {
				t.Errorf("engine %q, want %q", a.Generator.Engine, tt.want)
			}
			var text, js bytes.Buffer
			if err := a.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if err := a.WriteJSON(&js); err != nil {
				t.Fatal(err)
			}
			if want := "  Engine          " + tt.want + "\n"; !strings.Contains(text.String(), want) {
				t.Errorf("text lacks %q:\n%s", want, text.String())
			}
			if want := `"engine": "` + tt.want + `"`; !strings.Contains(js.String(), want) {
				t.Errorf("JSON lacks %q", want)
			}
		})
	}
}
