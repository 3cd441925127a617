package origin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
	"github.com/pion/rtp"

	"github.com/livedrop/livedrop/internal/transcode"
)

// aacIn is one source's AAC on its way through a transcoder, which its
// goroutine runs until stop.
type aacIn struct {
	decode func(*rtp.Packet) ([][]byte, error) // a packet's access units
	tc     *transcode.Transcoder
	stop   context.CancelFunc
	done   chan struct{}
}

// aacConfig is the AAC configuration of an MPEG4-GENERIC or MP4A-LATM
// format, or nil when the SDP gives none (an in-band LATM config).
func aacConfig(f format.Format) *mpeg4audio.AudioSpecificConfig {
	switch f := f.(type) {
	case *format.MPEG4Audio:
		return f.Config
	case *format.MPEG4AudioLATM:
		if c := f.StreamMuxConfig; c != nil && len(c.Programs) > 0 && len(c.Programs[0].Layers) > 0 {
			return c.Programs[0].Layers[0].AudioSpecificConfig
		}
	}
	return nil
}

// aacDecoder returns what turns f's RTP packets into access units; an
// empty unit (a LATM length of 0, found by FuzzAACDepacketize) is left
// out, as the transcoder could not frame it.
func aacDecoder(f format.Format) (func(*rtp.Packet) ([][]byte, error), error) {
	dec, err := aacUnits(f)
	if err != nil {
		return nil, err
	}
	return func(pkt *rtp.Packet) ([][]byte, error) {
		aus, err := dec(pkt)
		if err != nil {
			return nil, err
		}
		kept := aus[:0]
		for _, au := range aus {
			if len(au) > 0 {
				kept = append(kept, au)
			}
		}
		return kept, nil
	}, nil
}

func aacUnits(f format.Format) (func(*rtp.Packet) ([][]byte, error), error) {
	switch f := f.(type) {
	case *format.MPEG4Audio:
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, err
		}
		return dec.Decode, nil
	case *format.MPEG4AudioLATM:
		dec, err := f.CreateDecoder()
		if err != nil {
			return nil, err
		}
		cfg := f.StreamMuxConfig
		return func(pkt *rtp.Packet) ([][]byte, error) {
			buf, err := dec.Decode(pkt)
			if err != nil {
				return nil, err
			}
			el := mpeg4audio.AudioMuxElement{MuxConfigPresent: f.CPresent, StreamMuxConfig: cfg}
			if err := el.Unmarshal(buf); err != nil {
				return nil, err
			}
			var aus [][]byte
			for _, sub := range el.Payloads {
				if len(sub) > 0 && len(sub[0]) > 0 {
					aus = append(aus, sub[0][0]) // program 0, layer 0
				}
			}
			return aus, nil
		}, nil
	}
	return nil, errors.New("not AAC")
}

// startAAC starts the transcoder of owner's AAC; its Opus joins the
// stream's audio while owner is the source.
func (p *path) startAAC(owner any, f format.Format) (*aacIn, error) {
	decode, err := aacDecoder(f)
	if err != nil {
		return nil, fmt.Errorf("aac: %w", err)
	}
	tc, err := transcode.New(transcode.Params{FFmpeg: p.tc.ffmpeg, Config: aacConfig(f), Logger: p.log.With("stream", p.name),
		Metrics: p.tc.m, Out: func(pkt *rtp.Packet, arrival, at time.Time) { p.writeOpus(owner, pkt, arrival, at) }})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &aacIn{decode: decode, tc: tc, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(a.done)
		tc.Run(ctx)
	}()
	return a, nil
}

// end stops the transcoder and waits for it; nil does nothing.
func (a *aacIn) end() {
	if a == nil {
		return
	}
	a.stop()
	<-a.done
}
