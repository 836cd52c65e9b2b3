package timerfd

import (
	"encoding/binary"
	"syscall"
	"testing"
	"time"
)

// A timer set for 20 ms has not expired at once, has expired once after
// it, and a disarmed one never expires. (On 386 this failed with four
// int64s as the itimerspec: the timer was never armed.)
func TestSetExpiresOnce(t *testing.T) {
	fd, err := Create()
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	var buf [8]byte
	Set(fd, 20*time.Millisecond)
	if _, err := syscall.Read(fd, buf[:]); err != syscall.EAGAIN {
		t.Fatalf("read at once: %v, want EAGAIN (not expired yet)", err)
	}
	start := time.Now()
	for {
		n, err := syscall.Read(fd, buf[:])
		if err == nil {
			if n != 8 || binary.NativeEndian.Uint64(buf[:]) != 1 {
				t.Fatalf("read %d bytes, %d expiries; want 8 bytes, 1", n, binary.NativeEndian.Uint64(buf[:]))
			}
			if waited := time.Since(start); waited < 10*time.Millisecond {
				t.Fatalf("expired after %v, want about 20 ms", waited)
			}
			break
		}
		if err != syscall.EAGAIN {
			t.Fatal(err)
		}
		if time.Since(start) > 30*time.Second {
			t.Fatal("a timer set for 20 ms had not expired after 30 s")
		}
		time.Sleep(time.Millisecond)
	}
	Set(fd, 10*time.Millisecond)
	Set(fd, 0)
	time.Sleep(50 * time.Millisecond)
	if _, err := syscall.Read(fd, buf[:]); err != syscall.EAGAIN {
		t.Fatalf("read of a disarmed timer: %v, want EAGAIN", err)
	}
}
