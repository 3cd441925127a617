package peer

import (
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
