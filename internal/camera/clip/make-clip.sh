#!/bin/sh
# make-clip.sh regenerates demo.ts, the clip the built-in camera publishes.
# Needs ffmpeg (5.1 was used) with libx264, libopus and drawtext, perl, and the
# DejaVu fonts (Debian: apt-get install ffmpeg fonts-dejavu-core).
#
# Video: H.264 constrained baseline, level 3.1, 640x360, 30 fps, no B-frames,
# a keyframe every 30 frames (1 s) and never elsewhere, SPS and PPS in-band
# before every IDR, about 600 kbit/s, a running clock (hh:mm:ss.mmm of the
# clip's time) and a "livedrop demo" caption over the testsrc2 pattern.
# Audio: Opus, 48 kHz mono, 20 ms packets, 48 kbit/s, a 440 Hz tone with a
# beep every second.
# 15 s long: 450 frames and 750 Opus packets, so the clip loops on a frame.
#
# x264 never sets constraint_set2_flag, so its constrained baseline SPS reads
# 42c01f, and WebRTC stacks that compare profile-level-id strings (pion)
# refuse it against Chromium's 42e01f. The stream also meets the Extended
# profile's constraints (CAVLC, direct_8x8_inference_flag=1, no slice groups),
# so step 2 sets that flag in the SPS: profile-level-id becomes 42e01f.
set -eu
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

FONT=/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf
CAPTION=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf

# 1. Video, as a raw H.264 (Annex B) stream.
ffmpeg -hide_banner -loglevel error -y \
  -f lavfi -i "testsrc2=size=640x360:rate=30:duration=15" \
  -vf "drawtext=fontfile=$CAPTION:text='livedrop demo':fontsize=40:fontcolor=white:box=1:boxcolor=black@0.55:boxborderw=10:x=(w-tw)/2:y=24,drawtext=fontfile=$FONT:text='%{pts\\:hms}':fontsize=72:fontcolor=yellow:box=1:boxcolor=black@0.65:boxborderw=14:x=(w-tw)/2:y=h-th-36" \
  -c:v libx264 -profile:v baseline -level:v 3.1 -pix_fmt yuv420p -preset medium -threads 1 \
  -b:v 600k -maxrate 700k -bufsize 700k \
  -x264-params "keyint=30:min-keyint=30:scenecut=0:bframes=0:repeat-headers=1" \
  -fflags +bitexact -flags:v +bitexact -f h264 "$tmp/video.h264"

# 2. SPS 67 42 c0 1f -> 67 42 e0 1f (constraint_set2_flag), in every SPS.
perl -0777 -pi -e '$n = s/\x00\x00\x01\x67\x42\xc0\x1f/\x00\x00\x01\x67\x42\xe0\x1f/g;
  die "patched $n SPS, want 15\n" unless $n == 15' "$tmp/video.h264"

# 3. Opus audio, and both into MPEG-TS.
ffmpeg -hide_banner -loglevel error -y \
  -framerate 30 -i "$tmp/video.h264" \
  -f lavfi -i "sine=frequency=440:beep_factor=4:sample_rate=48000:duration=15,volume=0.25" \
  -map 0:v -map 1:a -c:v copy -bsf:v "setts=ts=N*3000:time_base=1/90000" \
  -c:a libopus -b:a 48k -ac 1 -ar 48000 -frame_duration 20 -application audio \
  -t 15 -fflags +bitexact -flags:a +bitexact -map_metadata -1 \
  -f mpegts demo.ts
