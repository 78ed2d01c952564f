// Package protocoltest checks docs/protocol.md against jetpool: its tests
// enqueue jobs, declare a batch, run jobs, dead-letter one and read the
// batch report with a plain NATS client only, following the document step
// by step, and compare what they find with what jetpool itself reports.
// It holds no code outside its tests.
package protocoltest
