package peer

import "time"

// sample is a peer's cumulative request count for a target at a receive time.
type sample struct {
	at    time.Time
	total uint64
}

// samples is a bounded, time-ordered ring of samples, at most one per second and only
// when the total moved, so it spans the retention it was sized for. Not safe for
// concurrent use; its owner (a View) guards it.
type samples struct {
	buf   []sample
	start int // index of the oldest sample once buf is full
	limit int
}

// newSamples returns a ring spanning retention (one sample per second, plus the sample
// just before the window and the newest).
func newSamples(retention time.Duration) samples {
	return samples{limit: max(2, int(retention/time.Second)+2)}
}

func (s *samples) len() int { return len(s.buf) }

// at returns the i-th sample, oldest first.
func (s *samples) at(i int) sample { return s.buf[(s.start+i)%len(s.buf)] }

// add records total at t. A total equal to the newest is not stored (the count stays
// flat until the next change); one within a second of the newest replaces its total, so
// the ring holds at most one sample per second. t must not be before the newest sample.
func (s *samples) add(t time.Time, total uint64) {
	if n := s.len(); n > 0 {
		last := &s.buf[(s.start+n-1)%n]
		if last.total == total {
			return
		}
		if t.Sub(last.at) < time.Second && n > 1 {
			last.total = total
			return
		}
	}
	if len(s.buf) < s.limit {
		s.buf = append(s.buf, sample{t, total})
		return
	}
	s.buf[s.start] = sample{t, total}
	s.start = (s.start + 1) % len(s.buf)
}

// valueAt returns the total as known at t: the newest sample taken at or before t, or
// the oldest sample if all came later (what happened before it was never observed).
func (s *samples) valueAt(t time.Time) uint64 {
	v := s.at(0).total
	for i := 1; i < s.len(); i++ {
		smp := s.at(i)
		if smp.at.After(t) {
			break
		}
		v = smp.total
	}
	return v
}

// rate returns requests per second over window ending at end: how much the total grew
// from window before end up to end, divided by window.
func (s *samples) rate(end time.Time, window time.Duration) float64 {
	if s.len() == 0 || window <= 0 {
		return 0
	}
	newest := s.at(s.len() - 1).total
	base := s.valueAt(end.Add(-window))
	if newest <= base {
		return 0
	}
	return float64(newest-base) / window.Seconds()
}
