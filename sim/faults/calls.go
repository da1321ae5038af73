package faults

import (
	"maps"
	"sync"
	"time"
)

// Call is one answered request.
type Call struct {
	Time time.Time `json:"time"`
	// Service is "ec2" or "imds".
	Service string `json:"service"`
	// Action is the EC2 action or the IMDS path (with the MAC replaced by "MAC").
	Action string `json:"action"`
	// Code is the AWS error code (or the IMDS HTTP status text); empty on success.
	Code string `json:"code,omitempty"`
	// Source is the caller's address as the fake saw it.
	Source   string        `json:"source,omitempty"`
	Duration time.Duration `json:"duration"`
}

// CallStats is a snapshot of the call log: counters and the latest calls.
type CallStats struct {
	// ByAction counts calls per action, successes and errors alike.
	ByAction map[string]int `json:"byAction"`
	// ByCode counts failed calls per error code.
	ByCode map[string]int `json:"byCode"`
	// ByActionCode counts calls per action, then per code ("" = success).
	ByActionCode map[string]map[string]int `json:"byActionCode"`
	// Log holds the most recent calls, oldest first.
	Log []Call `json:"log,omitempty"`
}

// Count returns how many calls of action ended with code ("" = success).
func (s CallStats) Count(action, code string) int { return s.ByActionCode[action][code] }

// Recorder is the concurrency-safe call log of one simulated VPC.
type Recorder struct {
	mu     sync.Mutex
	limit  int
	stats  CallStats
	ringAt int
}

// NewRecorder keeps counters for every call and the last limit calls in full.
func NewRecorder(limit int) *Recorder {
	if limit <= 0 {
		limit = 10000
	}
	return &Recorder{limit: limit, stats: CallStats{
		ByAction: map[string]int{}, ByCode: map[string]int{}, ByActionCode: map[string]map[string]int{},
	}}
}

// Record adds one call.
func (r *Recorder) Record(c Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.ByAction[c.Action]++
	if c.Code != "" {
		r.stats.ByCode[c.Code]++
	}
	if r.stats.ByActionCode[c.Action] == nil {
		r.stats.ByActionCode[c.Action] = map[string]int{}
	}
	r.stats.ByActionCode[c.Action][c.Code]++
	if len(r.stats.Log) < r.limit {
		r.stats.Log = append(r.stats.Log, c)
		return
	}
	r.stats.Log[r.ringAt] = c
	r.ringAt = (r.ringAt + 1) % r.limit
}

// Stats returns a deep copy of the counters and the log, oldest call first.
func (r *Recorder) Stats() CallStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := CallStats{
		ByAction:     make(map[string]int, len(r.stats.ByAction)),
		ByCode:       make(map[string]int, len(r.stats.ByCode)),
		ByActionCode: make(map[string]map[string]int, len(r.stats.ByActionCode)),
		Log:          make([]Call, 0, len(r.stats.Log)),
	}
	for k, v := range r.stats.ByAction {
		out.ByAction[k] = v
	}
	for k, v := range r.stats.ByCode {
		out.ByCode[k] = v
	}
	for k, v := range r.stats.ByActionCode {
		out.ByActionCode[k] = maps.Clone(v)
	}
	out.Log = append(out.Log, r.stats.Log[r.ringAt:]...)
	out.Log = append(out.Log, r.stats.Log[:r.ringAt]...)
	return out
}
