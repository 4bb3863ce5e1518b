// Connection-quality hints from RTCPeerConnection.getStats(): round-trip time and
// packet loss since the previous sample, turned into good / fair / poor.

/** Thresholds from ITU-T G.114 (150 ms one way is still conversational) and typical
 * Opus/VP8 behaviour (beyond ~8% loss, audio breaks up and video freezes). */
const FAIR = { rttMs: 300, loss: 0.02 };
const POOR = { rttMs: 600, loss: 0.08 };

export async function sampleQuality(pc, previous) {
  const stats = await pc.getStats();
  let pair = null;
  let received = 0;
  let lost = 0;
  const byId = new Map();
  stats.forEach((s) => byId.set(s.id, s));
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId) pair = byId.get(s.selectedCandidatePairId) || pair;
    if (s.type === "inbound-rtp") {
      received += s.packetsReceived || 0;
      lost += Math.max(0, s.packetsLost || 0);
    }
  });
  if (!pair) stats.forEach((s) => {
    if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s;
  });
  const sample = { received, lost };
  if (!pair) return { level: "connecting", text: "Connecting…", sample };
  const rttMs = Math.round((pair.currentRoundTripTime || 0) * 1000);
  const dRecv = received - (previous ? previous.received : 0);
  const dLost = lost - (previous ? previous.lost : 0);
  const loss = dRecv + dLost > 0 ? dLost / (dRecv + dLost) : 0;
  const local = byId.get(pair.localCandidateId);
  const relayed = Boolean(local && local.candidateType === "relay");
  let level = "good";
  if (rttMs > POOR.rttMs || loss > POOR.loss) level = "poor";
  else if (rttMs > FAIR.rttMs || loss > FAIR.loss) level = "fair";
  const words = { good: "Good connection", fair: "Unstable connection", poor: "Poor connection" }[level];
  const text = `${words}: ${rttMs} ms round trip, ${(loss * 100).toFixed(1)}% loss${relayed ? ", via relay" : ""}`;
  return { level, text, sample, rttMs, loss, relayed };
}
