package persister

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Error kinds counted in pika_persister_errors_total.
const (
	errDecode   = "decode"   // a stored message that is not a valid event or action (acked: it can never be written)
	errWrite    = "write"    // a failed write attempt (the batch is kept and retried)
	errFetch    = "fetch"    // a failed fetch from JetStream
	errAck      = "ack"      // an ack that did not reach JetStream (the batch is redelivered and rewritten as a no-op)
	errConsumer = "consumer" // the durable consumer could not be created
	errDiscover = "discover" // the streams could not be listed
)

// metrics are the persister's own collectors: a value per Persister,
// registered on the Registerer the caller chooses, never a global.
type metrics struct {
	lag     *prometheus.GaugeVec
	batch   prometheus.Histogram
	latency prometheus.Histogram
	errors  *prometheus.CounterVec
	rows    *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pika_persister_lag_messages",
			Help: "Messages in the stream not yet delivered to the persister's consumer (JetStream's num_pending).",
		}, []string{"stream"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pika_persister_batch_messages",
			Help:    "Messages per batch written in one transaction.",
			Buckets: []float64{1, 5, 10, 25, 50, 100, 250, 500, 1000, 2000},
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pika_persister_write_seconds",
			Help:    "Time of one successful batch write (one transaction).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14), // 1 ms … 8 s
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pika_persister_errors_total",
			Help: "Errors by kind: decode, write, fetch, ack, consumer, discover.",
		}, []string{"kind"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pika_persister_rows_written_total",
			Help: "Events and actions written to the store (a redelivered one counts again; the store ignores it).",
		}, []string{"kind"}),
	}
	// Every error kind is visible at 0 from the start, so an alert on a
	// rate sees the series before the first failure.
	for _, k := range []string{errDecode, errWrite, errFetch, errAck, errConsumer, errDiscover} {
		m.errors.WithLabelValues(k)
	}
	m.rows.WithLabelValues("event")
	m.rows.WithLabelValues("action")
	return m
}

func (m *metrics) register(r prometheus.Registerer) error {
	var errs []error
	for _, c := range []prometheus.Collector{m.lag, m.batch, m.latency, m.errors, m.rows} {
		errs = append(errs, r.Register(c))
	}
	return errors.Join(errs...)
}
