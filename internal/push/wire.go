package push

import (
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The sinks write their protobuf messages field by field with protowire,
// the wire-format layer of google.golang.org/protobuf, instead of building
// generated message types and marshalling them. A generated package
// registers its file descriptors when the program starts, and links
// protobuf's reflection-driven runtime (internal/impl, internal/filedesc)
// to do it: with OTLP's, remote write's and google.rpc.Status's messages
// that was 2.8 MB of binary and 1.8 (cgo) to 2.1 MiB (static) resident
// in every gather command from its start, fetch's too, for messages only
// bench --prometheus and --otlp send (docs/prometheus.md, Cost). protowire
// has no initialization and no registry.
//
// Each writer names its message and the .proto file its field numbers
// come from. The tests decode what is written with the generated types
// (Prometheus's prompb for remote write, OpenTelemetry's for OTLP) and
// compare field by field, so the two cannot drift apart unseen. Like
// proto.Marshal, writers leave out proto3 scalars at their zero value and
// write the members of a oneof and explicitly optional fields always.

// A pbuf is a protobuf message being written.
type pbuf struct{ b []byte }

// str writes string field num, unless empty.
func (p *pbuf) str(num protowire.Number, s string) {
	if s != "" {
		p.strAlways(num, s)
	}
}

// strAlways writes string field num even if empty (a oneof member).
func (p *pbuf) strAlways(num protowire.Number, s string) {
	p.b = protowire.AppendTag(p.b, num, protowire.BytesType)
	p.b = protowire.AppendString(p.b, s)
}

// uvarint writes varint field num (uint32, uint64, bool, enum), unless 0.
func (p *pbuf) uvarint(num protowire.Number, v uint64) {
	if v != 0 {
		p.uvarintAlways(num, v)
	}
}

func (p *pbuf) uvarintAlways(num protowire.Number, v uint64) {
	p.b = protowire.AppendTag(p.b, num, protowire.VarintType)
	p.b = protowire.AppendVarint(p.b, v)
}

// int64 writes int64 field num (two's complement varint), unless 0.
func (p *pbuf) int64(num protowire.Number, v int64) { p.uvarint(num, uint64(v)) }

// sint writes sint32 or sint64 field num (zigzag varint), unless 0.
func (p *pbuf) sint(num protowire.Number, v int64) { p.uvarint(num, protowire.EncodeZigZag(v)) }

// fixed64 writes fixed64 field num, unless 0.
func (p *pbuf) fixed64(num protowire.Number, v uint64) {
	if v != 0 {
		p.fixed64Always(num, v)
	}
}

func (p *pbuf) fixed64Always(num protowire.Number, v uint64) {
	p.b = protowire.AppendTag(p.b, num, protowire.Fixed64Type)
	p.b = protowire.AppendFixed64(p.b, v)
}

// double writes double field num, unless +0 (as proto.Marshal, which
// writes -0).
func (p *pbuf) double(num protowire.Number, v float64) { p.fixed64(num, math.Float64bits(v)) }

// doubleAlways writes double field num whatever its value (a oneof
// member or an optional field).
func (p *pbuf) doubleAlways(num protowire.Number, v float64) {
	p.fixed64Always(num, math.Float64bits(v))
}

// message writes message field num, whose fields fill writes. The
// length prefix is reserved as one byte and widened once the size is
// known: most of these messages are under 128 bytes, and a larger one
// moves its bytes once per level of nesting, about 4 levels here.
func (p *pbuf) message(num protowire.Number, fill func()) {
	p.b = protowire.AppendTag(p.b, num, protowire.BytesType)
	p.b = append(p.b, 0)
	start := len(p.b)
	fill()
	p.prefix(start)
}

// prefix puts the length of p.b[start:] into the byte reserved at
// p.b[start-1], widening it as the length needs.
func (p *pbuf) prefix(start int) {
	n := len(p.b) - start
	k := protowire.SizeVarint(uint64(n))
	if k > 1 {
		var pad [9]byte
		p.b = append(p.b, pad[:k-1]...)
		copy(p.b[start+k-1:], p.b[start:start+n])
	}
	protowire.AppendVarint(p.b[:start-1], uint64(n))
}

// packedSint writes repeated sint64 field num, packed, unless empty.
func (p *pbuf) packedSint(num protowire.Number, vs []int64) {
	if len(vs) == 0 {
		return
	}
	p.b = protowire.AppendTag(p.b, num, protowire.BytesType)
	p.b = append(p.b, 0)
	start := len(p.b)
	for _, v := range vs {
		p.b = protowire.AppendVarint(p.b, protowire.EncodeZigZag(v))
	}
	p.prefix(start)
}

// packedUvarint writes repeated uint64 field num, packed, unless empty.
func (p *pbuf) packedUvarint(num protowire.Number, vs []uint64) {
	if len(vs) == 0 {
		return
	}
	p.b = protowire.AppendTag(p.b, num, protowire.BytesType)
	p.b = append(p.b, 0)
	start := len(p.b)
	for _, v := range vs {
		p.b = protowire.AppendVarint(p.b, v)
	}
	p.prefix(start)
}

// scan calls fn for each field of the message in b, with its value: the
// varint's or fixed number's in v, the bytes of a length-delimited field
// in data. It stops at the first field fn returns false for, and reports
// whether b was a well-formed message up to there.
func scan(b []byte, fn func(num protowire.Number, typ protowire.Type, v uint64, data []byte) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		var v uint64
		var data []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed64Type:
			v, n = protowire.ConsumeFixed64(b)
		case protowire.Fixed32Type:
			var v32 uint32
			v32, n = protowire.ConsumeFixed32(b)
			v = uint64(v32)
		case protowire.BytesType:
			data, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return false
		}
		b = b[n:]
		if !fn(num, typ, v, data) {
			return true
		}
	}
	return true
}

// rpcStatusMessage returns the message of a google.rpc.Status
// (google/rpc/status.proto: int32 code = 1; string message = 2; repeated
// Any details = 3), and whether b was one.
func rpcStatusMessage(b []byte) (msg string, ok bool) {
	ok = scan(b, func(num protowire.Number, typ protowire.Type, _ uint64, data []byte) bool {
		if num == 2 && typ == protowire.BytesType {
			msg = string(data)
		}
		return true
	})
	return msg, ok
}

// partialSuccess returns the partial_success of an
// ExportMetricsServiceResponse (opentelemetry/proto/collector/metrics/v1/
// metrics_service.proto: ExportMetricsPartialSuccess partial_success = 1,
// whose int64 rejected_data_points = 1 and string error_message = 2), and
// whether b was one.
func partialSuccess(b []byte) (rejected int64, msg string, ok bool) {
	inner := true
	ok = scan(b, func(num protowire.Number, typ protowire.Type, _ uint64, data []byte) bool {
		if num != 1 || typ != protowire.BytesType {
			return true
		}
		inner = scan(data, func(num protowire.Number, typ protowire.Type, v uint64, data []byte) bool {
			switch {
			case num == 1 && typ == protowire.VarintType:
				rejected = int64(v)
			case num == 2 && typ == protowire.BytesType:
				msg = string(data)
			}
			return true
		})
		return inner
	})
	return rejected, msg, ok && inner
}
