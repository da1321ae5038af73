// Package faults holds what sits between a request to the simulated VPC and
// the fake that answers it: the run-time fault settings (throttling, latency,
// server errors, an IMDS outage window, forced InsufficientCidrBlocks) and the
// call log that counts every answer per action and error code. Both are shared
// by the fake EC2 and the fake IMDS, so one test can provoke and then prove a
// retry, a backoff or a fallback in the agent.
package faults

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Settings is one complete set of faults. The zero value injects nothing.
// It is a plain value so the CLI can read and write it as JSON.
type Settings struct {
	// ThrottleRatio in [0,1] is the share of EC2 calls answered with
	// RequestLimitExceeded (HTTP 503), as AWS throttles per account.
	ThrottleRatio float64 `json:"throttleRatio,omitempty"`
	// ThrottleActions limits throttling to these EC2 actions; empty means all.
	ThrottleActions []string `json:"throttleActions,omitempty"`
	// ServerErrorRatio in [0,1] is the share of EC2 calls answered with
	// InternalError (HTTP 500).
	ServerErrorRatio float64 `json:"serverErrorRatio,omitempty"`
	// Latency is added before every EC2 and IMDS answer.
	Latency time.Duration `json:"latency,omitempty"`
	// IMDSOutageFrom and IMDSOutageUntil bound a window in which IMDS answers
	// 503 to every request; zero times mean no outage.
	IMDSOutageFrom  time.Time `json:"imdsOutageFrom,omitzero"`
	IMDSOutageUntil time.Time `json:"imdsOutageUntil,omitzero"`
	// InsufficientCidrBlocks makes every /28 prefix request fail with
	// InsufficientCidrBlocks, whatever room the subnet has.
	InsufficientCidrBlocks bool `json:"insufficientCidrBlocks,omitempty"`
	// LoseAnswers lists EC2 actions whose next call takes effect but whose
	// answer is lost: the caller gets InternalError (HTTP 500), as when a
	// request times out after EC2 carried it out. Each entry is used once;
	// an action listed twice loses two answers.
	LoseAnswers []string `json:"loseAnswers,omitempty"`
}

// Validate rejects ratios outside [0,1], a negative latency and an outage
// window that ends before it starts.
func (s Settings) Validate() error {
	if s.ThrottleRatio < 0 || s.ThrottleRatio > 1 {
		return fmt.Errorf("throttleRatio %v: must be within [0,1]", s.ThrottleRatio)
	}
	if s.ServerErrorRatio < 0 || s.ServerErrorRatio > 1 {
		return fmt.Errorf("serverErrorRatio %v: must be within [0,1]", s.ServerErrorRatio)
	}
	if s.Latency < 0 {
		return fmt.Errorf("latency %v: must not be negative", s.Latency)
	}
	if !s.IMDSOutageUntil.IsZero() && s.IMDSOutageUntil.Before(s.IMDSOutageFrom) {
		return fmt.Errorf("imdsOutageUntil %v: must not be before imdsOutageFrom %v", s.IMDSOutageUntil, s.IMDSOutageFrom)
	}
	return nil
}

// Faults is the concurrency-safe, run-time settable fault injector of one
// simulated VPC. The zero value is not usable; call New.
type Faults struct {
	mu  sync.Mutex
	s   Settings
	rnd *rand.Rand
	now func() time.Time
}

// New returns an injector with no faults. The seed makes the ratio draws
// reproducible for one sequence of calls.
func New(seed uint64) *Faults {
	return &Faults{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: time.Now}
}

// Set replaces all settings at once.
func (f *Faults) Set(s Settings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s.ThrottleActions = append([]string(nil), s.ThrottleActions...)
	s.LoseAnswers = append([]string(nil), s.LoseAnswers...)
	f.s = s
	return nil
}

// Get returns a copy of the current settings.
func (f *Faults) Get() Settings {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.s
	s.ThrottleActions = append([]string(nil), s.ThrottleActions...)
	s.LoseAnswers = append([]string(nil), s.LoseAnswers...)
	return s
}

// Reset removes every fault.
func (f *Faults) Reset() { _ = f.Set(Settings{}) }

// Update applies fn to a copy of the settings and stores the result, so a test
// can change one knob without racing another goroutine changing another.
func (f *Faults) Update(fn func(*Settings)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.s
	s.ThrottleActions = append([]string(nil), s.ThrottleActions...)
	s.LoseAnswers = append([]string(nil), s.LoseAnswers...)
	fn(&s)
	if err := s.Validate(); err != nil {
		return err
	}
	f.s = s
	return nil
}

// SetThrottleRatio sets the share of EC2 calls answered RequestLimitExceeded.
func (f *Faults) SetThrottleRatio(r float64) error {
	return f.Update(func(s *Settings) { s.ThrottleRatio = r })
}

// SetServerErrorRatio sets the share of EC2 calls answered InternalError.
func (f *Faults) SetServerErrorRatio(r float64) error {
	return f.Update(func(s *Settings) { s.ServerErrorRatio = r })
}

// SetLatency sets the delay added before every answer.
func (f *Faults) SetLatency(d time.Duration) error {
	return f.Update(func(s *Settings) { s.Latency = d })
}

// SetIMDSOutage makes IMDS answer 503 from now for d; d <= 0 ends an outage.
func (f *Faults) SetIMDSOutage(d time.Duration) error {
	now := f.now()
	return f.Update(func(s *Settings) {
		if d <= 0 {
			s.IMDSOutageFrom, s.IMDSOutageUntil = time.Time{}, time.Time{}
			return
		}
		s.IMDSOutageFrom, s.IMDSOutageUntil = now, now.Add(d)
	})
}

// SetInsufficientCidrBlocks forces (or stops forcing) InsufficientCidrBlocks
// on every /28 prefix request.
func (f *Faults) SetInsufficientCidrBlocks(on bool) error {
	return f.Update(func(s *Settings) { s.InsufficientCidrBlocks = on })
}

// LoseAnswer makes the next call of action take effect with its answer
// lost (see Settings.LoseAnswers).
func (f *Faults) LoseAnswer(action string) error {
	return f.Update(func(s *Settings) { s.LoseAnswers = append(s.LoseAnswers, action) })
}

// AnswerLost reports whether the answer of this call of action, which took
// effect, is to be lost, and uses up the entry.
func (f *Faults) AnswerLost(action string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, a := range f.s.LoseAnswers {
		if a == action {
			f.s.LoseAnswers = append(f.s.LoseAnswers[:i:i], f.s.LoseAnswers[i+1:]...)
			return true
		}
	}
	return false
}

// Decision is what the injector chose for one EC2 call.
type Decision struct {
	// Latency to wait before answering.
	Latency time.Duration
	// Code is the AWS error code to answer with; empty means answer normally.
	Code string
	// Status is the HTTP status that goes with Code.
	Status int
}

// EC2 draws the fate of one EC2 call of the given action.
func (f *Faults) EC2(action string) Decision {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := Decision{Latency: f.s.Latency}
	if f.s.ThrottleRatio > 0 && appliesTo(f.s.ThrottleActions, action) && f.rnd.Float64() < f.s.ThrottleRatio {
		d.Code, d.Status = "RequestLimitExceeded", 503
		return d
	}
	if f.s.ServerErrorRatio > 0 && f.rnd.Float64() < f.s.ServerErrorRatio {
		d.Code, d.Status = "InternalError", 500
	}
	return d
}

func appliesTo(actions []string, action string) bool {
	if len(actions) == 0 {
		return true
	}
	for _, a := range actions {
		if a == action {
			return true
		}
	}
	return false
}

// IMDS reports the latency to add to an IMDS answer and whether IMDS is in an
// outage window now.
func (f *Faults) IMDS() (latency time.Duration, outage bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	out := !f.s.IMDSOutageUntil.IsZero() && !now.Before(f.s.IMDSOutageFrom) && now.Before(f.s.IMDSOutageUntil)
	return f.s.Latency, out
}

// ForceInsufficientCidrBlocks reports whether prefix requests must fail.
func (f *Faults) ForceInsufficientCidrBlocks() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s.InsufficientCidrBlocks
}
