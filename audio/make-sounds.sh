#!/usr/bin/env bash
# Makes the shipped sounds in this folder, reproducibly: ffmpeg's lavfi sources for the attention
# tones; espeak-ng (Mandarin voice) for the sample announcement where it is installed, a tone
# pattern otherwise. Every output is in the delivery format: MP3, mono, 44.1 kHz, 64 kbit/s,
# loudness-normalised to -16 LUFS. Run from anywhere: ./audio/make-sounds.sh
set -euo pipefail
cd "$(dirname "$0")"
command -v ffmpeg >/dev/null || { echo "ffmpeg is needed (apt-get install ffmpeg)" >&2; exit 1; }

# Encode filter input to the delivery format with a single-pass loudnorm (these are synthetic,
# steady signals, so one pass lands on target).
deliver() { # deliver OUT FILTERGRAPH [INPUT_ARGS...]
  local out=$1 graph=$2
  shift 2
  ffmpeg -hide_banner -v error -nostdin "$@" -filter_complex "$graph,aformat=channel_layouts=mono,loudnorm=I=-16:TP=-1.5:LRA=11,aresample=44100[out]" \
    -map '[out]' -ar 44100 -ac 1 -c:a libmp3lame -b:a 64k -map_metadata -1 -fflags +bitexact -flags:a +bitexact -f mp3 -y "$out"
  echo "wrote $out"
}

# Emergency (levels I-IV): a two-tone alternating alarm, 960/770 Hz, four cycles, 3.2 s.
deliver attention-emergency.mp3 \
  "sine=f=960:d=0.4:r=44100[a];sine=f=770:d=0.4:r=44100[b];[a][b]concat=n=2:v=0:a=1,aloop=loop=3:size=35280,afade=t=in:d=0.02,afade=t=out:st=3.15:d=0.05"

# Routine: a rising three-note chime (C5, E5, G5), 1.8 s.
deliver attention-routine.mp3 \
  "sine=f=523.25:d=0.6:r=44100,afade=t=out:st=0.2:d=0.4[a];sine=f=659.25:d=0.6:r=44100,afade=t=out:st=0.2:d=0.4[b];sine=f=783.99:d=0.6:r=44100,afade=t=out:st=0.2:d=0.4[c];[a][b][c]concat=n=3:v=0:a=1"

# Test: two short 1 kHz beeps, 1.2 s.
deliver attention-test.mp3 \
  "sine=f=1000:d=0.3:r=44100[a];anullsrc=r=44100:cl=mono:d=0.3[s];sine=f=1000:d=0.3:r=44100[b];anullsrc=r=44100:cl=mono:d=0.3[t];[a][s][b][t]concat=n=4:v=0:a=1"

# A short sample announcement, for trying the chain end to end.
TEXT="各位村民请注意，这是大喇叭应急广播系统的测试广播。本次广播仅为测试，请勿惊慌。"
if command -v espeak-ng >/dev/null; then
  espeak-ng -v cmn -s 150 -w sample-announcement.wav "$TEXT"
  deliver sample-announcement.mp3 "[0:a]anull" -i sample-announcement.wav
  rm -f sample-announcement.wav
else
  echo "espeak-ng not installed: the sample announcement is a tone pattern instead of speech" >&2
  deliver sample-announcement.mp3 "sine=f=440:d=6:r=44100,tremolo=f=3:d=0.6"
fi
