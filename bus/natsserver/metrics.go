package natsserver

import (
	"github.com/nats-io/nats-server/v2/server"
	"github.com/prometheus/client_golang/prometheus"
)

// maxConsumerSeries bounds the pika_nats_consumer_* series one node
// exports: past it, the rest are summed under consumer="(other)". The
// cloud has a few durable consumers per DJ (the persister's); a flood of
// DJs must not flood Prometheus.
const maxConsumerSeries = 500

// Consumer names that are not a consumer's own.
const (
	ephemeralConsumers = "(ephemeral)" // ordered consumers (gateways' feeds), summed: their names are random
	otherConsumers     = "(other)"     // past maxConsumerSeries
)

var (
	descPending = prometheus.NewDesc("pika_nats_consumer_pending",
		"Messages of the stream the consumer has not been delivered yet (JetStream num_pending), reported by the consumer's leader.",
		[]string{"stream", "consumer"}, nil)
	descAckPending = prometheus.NewDesc("pika_nats_consumer_ack_pending",
		"Messages delivered to the consumer and not acknowledged yet (num_ack_pending), reported by the consumer's leader.",
		[]string{"stream", "consumer"}, nil)
	descLeafnodes = prometheus.NewDesc("pika_nats_leafnodes",
		"Leaf links connected to this node (DJs' laptops in the cloud; the cloud link on a DJ's laptop).", nil, nil)
	descConnections = prometheus.NewDesc("pika_nats_connections",
		"Client connections to this node (gateways, the persister, DJ-side processes).", nil, nil)
	descScrapeErrors = prometheus.NewDesc("pika_nats_jsz_errors",
		"1 when this scrape could not read JetStream's consumers (JetStream down or not ready), else 0.", nil, nil)
)

// collector reads a node's own monitoring data at each scrape: nothing
// runs between scrapes.
type collector struct{ s *Server }

// NewCollector is a Prometheus collector of a node (cloud node or a DJ's
// laptop): pika_nats_consumer_pending and pika_nats_consumer_ack_pending
// per {stream, consumer}, pika_nats_leafnodes and pika_nats_connections.
// Register it on the process's registry (obs.NewRegistry()).
//
// Each consumer is reported only by the node that leads it, so in a
// three-node cluster sum() over the nodes counts each consumer once.
// Ordered (ephemeral) consumers are summed per stream under
// consumer="(ephemeral)"; past 500 series the rest are summed under
// consumer="(other)".
func NewCollector(s *Server) prometheus.Collector { return &collector{s: s} }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descPending, descAckPending, descLeafnodes, descConnections, descScrapeErrors} {
		ch <- d
	}
}

type consumerKey struct{ stream, consumer string }

type consumerVals struct{ pending, ackPending float64 }

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ns := c.s.ns
	ch <- prometheus.MustNewConstMetric(descLeafnodes, prometheus.GaugeValue, float64(ns.NumLeafNodes()))
	ch <- prometheus.MustNewConstMetric(descConnections, prometheus.GaugeValue, float64(ns.NumClients()))
	vals, err := c.consumers()
	failed := 0.0
	if err != nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(descScrapeErrors, prometheus.GaugeValue, failed)
	for k, v := range vals {
		ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, v.pending, k.stream, k.consumer)
		ch <- prometheus.MustNewConstMetric(descAckPending, prometheus.GaugeValue, v.ackPending, k.stream, k.consumer)
	}
}

// consumers reads every consumer this node leads from Jsz.
func (c *collector) consumers() (map[consumerKey]consumerVals, error) {
	if !c.s.ns.JetStreamEnabled() {
		return nil, nil
	}
	info, err := c.s.ns.Jsz(&server.JSzOptions{Accounts: true, Streams: true, Consumer: true, Config: true})
	if err != nil {
		return nil, err
	}
	me := c.s.ns.Name()
	out := map[consumerKey]consumerVals{}
	for _, acc := range info.AccountDetails {
		for _, st := range acc.Streams {
			for _, ci := range st.Consumer {
				if ci == nil || (ci.Cluster != nil && ci.Cluster.Leader != "" && ci.Cluster.Leader != me) {
					continue
				}
				k := consumerKey{stream: st.Name, consumer: ci.Name}
				if ci.Config == nil || ci.Config.Durable == "" {
					k.consumer = ephemeralConsumers
				}
				if _, seen := out[k]; !seen && len(out) >= maxConsumerSeries {
					k = consumerKey{stream: otherConsumers, consumer: otherConsumers}
				}
				v := out[k]
				v.pending += float64(ci.NumPending)
				v.ackPending += float64(ci.NumAckPending)
				out[k] = v
			}
		}
	}
	return out, nil
}
