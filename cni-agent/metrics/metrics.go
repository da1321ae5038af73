// Package metrics is the agent's Prometheus surface: the pool per ENI, the
// ENIs in use, every EC2 call by action and error code, the warm pool's
// backoffs and pauses, and allocation latency. It has its own registry (no
// global default registry) so tests and several agents in one process never
// collide.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eksnet/eksnet/cni-agent/ipam"
)

// Metrics holds the agent's collectors.
type Metrics struct {
	Registry *prometheus.Registry

	poolAddresses  *prometheus.GaugeVec
	enis           prometheus.Gauge
	capacity       prometheus.Gauge
	ec2Calls       *prometheus.CounterVec
	ec2Duration    *prometheus.HistogramVec
	ec2Retries     *prometheus.CounterVec
	backoffs       *prometheus.CounterVec
	backoffSeconds prometheus.Gauge
	allocations    *prometheus.CounterVec
	allocLatency   prometheus.Histogram
}

// New registers the collectors on a fresh registry.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		poolAddresses: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eksnet_agent_pool_addresses",
			Help: "Pod addresses held per ENI, by state (total, assigned, cooldown, pending: assigned in EC2, not listed by IMDS yet).",
		}, []string{"eni", "state"}),
		enis: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eksnet_agent_enis", Help: "ENIs attached and used for pods (primary included).",
		}),
		capacity: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eksnet_agent_capacity", Help: "Addresses the node may hand to pods (max pods less the host-network pods).",
		}),
		ec2Calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eksnet_agent_ec2_calls_total",
			Help: "EC2 API calls by action and AWS error code (empty code = success), after SDK retries.",
		}, []string{"action", "code"}),
		ec2Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "eksnet_agent_ec2_call_duration_seconds",
			Help:    "EC2 API call duration including SDK retries.",
			Buckets: prometheus.ExponentialBuckets(0.005, 3, 9),
		}, []string{"action"}),
		ec2Retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eksnet_agent_ec2_retries_total",
			Help: "EC2 attempts the SDK retried (with backoff), by the AWS error code of the failed attempt.",
		}, []string{"code"}),
		backoffs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eksnet_agent_warm_pool_backoffs_total",
			Help: "Times the warm pool backed off, by reason (throttled, server, out_of_addresses, imds, other).",
		}, []string{"reason"}),
		backoffSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "eksnet_agent_warm_pool_backoff_seconds", Help: "Current warm-pool backoff delay (0 = not backing off).",
		}),
		allocations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eksnet_agent_allocations_total", Help: "Allocation requests by result (ok, full, empty, error).",
		}, []string{"result"}),
		allocLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "eksnet_agent_allocation_duration_seconds",
			Help:    "Time to answer an allocation, checkpoint write included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 3, 10),
		}),
	}
	m.Registry.MustRegister(m.poolAddresses, m.enis, m.capacity, m.ec2Calls, m.ec2Duration, m.ec2Retries, m.backoffs,
		m.backoffSeconds, m.allocations, m.allocLatency,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveEC2 counts one EC2 call.
func (m *Metrics) ObserveEC2(action, code string, d time.Duration) {
	m.ec2Calls.WithLabelValues(action, code).Inc()
	m.ec2Duration.WithLabelValues(action).Observe(d.Seconds())
}

// EC2Retry counts one retried EC2 attempt.
func (m *Metrics) EC2Retry(code string) { m.ec2Retries.WithLabelValues(code).Inc() }

// Backoff records that the warm pool is waiting delay after a failure.
func (m *Metrics) Backoff(reason string, delay time.Duration) {
	m.backoffs.WithLabelValues(reason).Inc()
	m.backoffSeconds.Set(delay.Seconds())
}

// BackoffCleared records that the warm pool works normally again.
func (m *Metrics) BackoffCleared() { m.backoffSeconds.Set(0) }

// Allocation records one allocation's result and latency.
func (m *Metrics) Allocation(result string, d time.Duration) {
	m.allocations.WithLabelValues(result).Inc()
	m.allocLatency.Observe(d.Seconds())
}

// Pool publishes a pool snapshot; ENIs gone since the last one disappear.
func (m *Metrics) Pool(s ipam.Snapshot) {
	m.poolAddresses.Reset()
	for _, e := range s.ENIs {
		m.poolAddresses.WithLabelValues(e.ID, "total").Set(float64(e.Total))
		m.poolAddresses.WithLabelValues(e.ID, "assigned").Set(float64(e.Assigned))
		m.poolAddresses.WithLabelValues(e.ID, "cooldown").Set(float64(e.Cooldown))
		m.poolAddresses.WithLabelValues(e.ID, "pending").Set(float64(e.Pending))
	}
	m.enis.Set(float64(len(s.ENIs)))
	m.capacity.Set(float64(s.Capacity))
}

// Serve answers /metrics on addr until ctx ends.
func (m *Metrics) Serve(ctx context.Context, addr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening for metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving metrics on %s: %w", addr, err)
	}
	return nil
}
