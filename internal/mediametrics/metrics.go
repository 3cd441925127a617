// Package mediametrics holds the Prometheus metrics of the media path,
// shared by the origin and the edge. Every node registers one Metrics on
// its own registry.
package mediametrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the media path's Prometheus metrics.
type Metrics struct {
	Streams           prometheus.Gauge
	Publishers        prometheus.Gauge
	Viewers           *prometheus.GaugeVec   // stream, region
	PacketsIn         *prometheus.CounterVec // stream, kind
	BytesIn           *prometheus.CounterVec // stream, kind
	PacketsOut        *prometheus.CounterVec // stream, kind
	BytesOut          *prometheus.CounterVec // stream, kind
	Dropped           *prometheus.CounterVec // stream, reason
	UpstreamUp        *prometheus.GaugeVec   // stream
	UpstreamDials     *prometheus.CounterVec // stream, result
	UpstreamFailovers *prometheus.CounterVec // stream
	SessionsCreated   *prometheus.CounterVec // role
	SetupFailures     *prometheus.CounterVec // reason
	HalfOpenClosed    prometheus.Counter
	AuthFailures      prometheus.Counter
	FirstKeyframe     prometheus.Histogram
	AudioDropped      *prometheus.CounterVec // codec
	IngestErrors      *prometheus.CounterVec // stream, reason
	KeyframeRequests  *prometheus.CounterVec // direction (in, out)
	NACKs             *prometheus.CounterVec // stream
	Retransmissions   *prometheus.CounterVec // stream, result
	GOPStarts         *prometheus.CounterVec // stream
	ForwardLatency    prometheus.Histogram
	Writers           *prometheus.GaugeVec   // kind (shared, tcp)
	SessionPaths      *prometheus.CounterVec // path (direct, pion)
}

// New creates the metrics and registers them on reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		Streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livedrop_streams", Help: "Streams this node carries.",
		}),
		Publishers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "livedrop_publishers", Help: "Sources currently publishing (RTSP publishers and pull sources).",
		}),
		Viewers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "livedrop_viewers", Help: "WHEP sessions being served, by stream and region.",
		}, []string{"stream", "region"}),
		PacketsIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_rtp_packets_received_total", Help: "RTP packets received from sources.",
		}, []string{"stream", "kind"}),
		BytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_rtp_bytes_received_total", Help: "RTP payload bytes received from sources.",
		}, []string{"stream", "kind"}),
		PacketsOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_rtp_packets_sent_total", Help: "RTP packets sent to WHEP sessions.",
		}, []string{"stream", "kind"}),
		BytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_rtp_bytes_sent_total", Help: "RTP payload bytes sent to WHEP sessions.",
		}, []string{"stream", "kind"}),
		Dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_rtp_packets_dropped_total", Help: "RTP packets dropped, by reason (queue_full: a writer's queue or a GOP replay's backlog was full; write_error).",
		}, []string{"stream", "reason"}),
		UpstreamUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "livedrop_upstream_up", Help: "1 when the edge's upstream connection for a stream is connected.",
		}, []string{"stream"}),
		UpstreamDials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_upstream_dials_total", Help: "Upstream WHEP dials, by result (ok, not_found, error).",
		}, []string{"stream", "result"}),
		UpstreamFailovers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_upstream_failovers_total", Help: "Times an edge's pull moved to the next origin of its list (the current one failed or died).",
		}, []string{"stream"}),
		SessionsCreated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_sessions_created_total", Help: "WHEP sessions created, by role of this node (origin, edge).",
		}, []string{"role"}),
		SetupFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_session_setup_failures_total", Help: "WHEP session setups refused or failed, by reason.",
		}, []string{"reason"}),
		HalfOpenClosed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livedrop_sessions_halfopen_closed_total", Help: "WHEP sessions closed because ICE and DTLS were not up within whep.ice_timeout of the answer.",
		}),
		AuthFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "livedrop_publish_auth_failures_total", Help: "RTSP publish attempts refused for wrong credentials.",
		}),
		FirstKeyframe: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "livedrop_time_to_first_keyframe_seconds",
			Help:    "Time from a WHEP offer to the first keyframe packet sent on that session.",
			Buckets: []float64{0.025, 0.05, 0.1, 0.15, 0.25, 0.4, 0.6, 1, 1.5, 2, 3, 5, 10},
		}),
		AudioDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_audio_tracks_dropped_total", Help: "Published audio tracks not forwarded (codec unsupported by WebRTC), by codec.",
		}, []string{"codec"}),
		IngestErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_ingest_errors_total", Help: "Source packets or streams refused, by reason (malformed_h264, bframes, unsupported_codec).",
		}, []string{"stream", "reason"}),
		KeyframeRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_keyframe_requests_total", Help: "PLI/FIR keyframe requests, received from viewers (in) and sent upstream (out).",
		}, []string{"direction"}),
		NACKs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_nacked_packets_total", Help: "Packets viewers reported lost in NACKs.",
		}, []string{"stream"}),
		Retransmissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_retransmissions_total", Help: "Answers to NACKed packets, by result (sent, not_in_history, rate_limited).",
		}, []string{"stream", "result"}),
		GOPStarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_gop_starts_total", Help: "Sessions started by replaying the kept GOP instead of waiting for a keyframe.",
		}, []string{"stream"}),
		ForwardLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "livedrop_forward_latency_seconds",
			Help:    "Time from a video packet's arrival at this node to its write to a viewer (sampled 1 in 16; an edge holds audio up to audio_hold more).",
			Buckets: []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1},
		}),
		Writers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "livedrop_media_writers", Help: "Goroutines writing streams to sessions: shared (one per core per stream) and tcp (one per ICE-TCP session).",
		}, []string{"kind"}),
		SessionPaths: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "livedrop_media_session_paths_total", Help: "Connected sessions by media send path: direct (protected by the node, UDP media socket) or pion (TCP, relay, no UDP mux).",
		}, []string{"path"}),
	}
	for _, c := range []prometheus.Collector{m.Streams, m.Publishers, m.Viewers, m.PacketsIn,
		m.BytesIn, m.PacketsOut, m.BytesOut, m.Dropped, m.UpstreamUp, m.UpstreamDials, m.UpstreamFailovers,
		m.SessionsCreated, m.SetupFailures, m.HalfOpenClosed, m.AuthFailures, m.FirstKeyframe, m.AudioDropped,
		m.IngestErrors, m.KeyframeRequests, m.NACKs, m.Retransmissions, m.GOPStarts, m.ForwardLatency, m.Writers, m.SessionPaths} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register media metrics: %w", err)
		}
	}
	return m, nil
}
