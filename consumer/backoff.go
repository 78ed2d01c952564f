package consumer

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Backoff is exponential backoff with jitter: the delay before retry n is
// drawn between half and all of min(Max, Initial * 2^(n-1)).
type Backoff struct {
	Initial time.Duration // first delay (1s)
	Max     time.Duration // largest delay (1m)
}

func (b Backoff) withDefaults() Backoff {
	if b.Initial == 0 {
		b.Initial = time.Second
	}
	if b.Max == 0 {
		b.Max = time.Minute
	}
	return b
}

func (b Backoff) validate() error {
	if b.Initial <= 0 {
		return fmt.Errorf("consumer: backoff initial %s must be positive", b.Initial)
	}
	if b.Max < b.Initial {
		return fmt.Errorf("consumer: backoff max %s must be at least initial %s", b.Max, b.Initial)
	}
	return nil
}

// Delay returns the delay after the given failed attempt (1 for the first).
func (b Backoff) Delay(attempt int) time.Duration {
	b = b.withDefaults()
	d := b.Initial
	for i := 1; i < attempt && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	half := d / 2
	return half + rand.N(d-half+1)
}
