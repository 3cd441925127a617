package buyer_test

import "github.com/prometheus/client_golang/prometheus"

func newRegistry() *prometheus.Registry { return prometheus.NewRegistry() }
