//go:build race

package loadgen

// raceEnabled: the race detector changes what allocates (sync.Pool drops
// some of what is put back, on purpose).
const raceEnabled = true
