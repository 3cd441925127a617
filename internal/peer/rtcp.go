package peer

import (
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// ReadRTCP reads what the peer sends back on snd until the sender closes:
// keyframe requests (PLI, FIR) go to onKeyframe, NACKs to onNACK, receiver
// reports to onReport (nil: dropped);
// everything else is read and dropped, as a sender must drain its RTCP.
func ReadRTCP(snd *webrtc.RTPSender, onKeyframe func(), onNACK func(*rtcp.TransportLayerNack), onReport func(*rtcp.ReceiverReport)) {
	buf := make([]byte, 1500)
	for {
		n, _, err := snd.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		for _, p := range pkts {
			switch p := p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				onKeyframe()
			case *rtcp.TransportLayerNack:
				onNACK(p)
			case *rtcp.ReceiverReport:
				if onReport != nil {
					onReport(p)
				}
			}
		}
	}
}

// NTPTime converts an NTP timestamp (RFC 3550, 32.32 fixed point, as in
// a sender report) to a time.
func NTPTime(ntp uint64) time.Time {
	secs := int64(ntp>>32) - 2208988800
	return time.Unix(secs, int64((ntp&0xffffffff)*1e9>>32))
}
