//go:build !linux

package slowserver

// theAlarm is nil where there is no timerfd: sleep uses runtime timers.
func theAlarm() *alarm { return nil }
