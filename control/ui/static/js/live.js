// Live changes from GET /admin/events, read with fetch (EventSource cannot send the
// Authorization header, and the token must never go in a URL). Reconnects with backoff; after
// a reconnect the page is told to read everything again ("resync").
import { session, stats } from "./api.js";

const SILENCE_MS = 40000; // the server sends a heartbeat every 15 s

export function watch(route, onEvent, onState) {
  let stopped = false;
  let current = null;
  let delay = 1000;

  function parse(block) {
    let event = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trim());
    }
    if (!data.length) return;
    try {
      onEvent(event, JSON.parse(data.join("\n")));
    } catch (error) {
      console.warn("live: bad event", error);
    }
  }

  async function connectOnce(first) {
    current = new AbortController();
    let last = Date.now();
    const watchdog = setInterval(() => {
      if (Date.now() - last > SILENCE_MS) current.abort();
    }, 5000);
    try {
      const query = route ? `?route=${encodeURIComponent(route)}` : "";
      stats.requests += 1;
      const response = await fetch(`/admin/events${query}`, {
        headers: { Authorization: `Bearer ${session.token() || ""}`, Accept: "text/event-stream" },
        signal: current.signal,
        cache: "no-store",
        credentials: "omit",
      });
      if (response.status === 401 || response.status === 403) {
        onState("unauthorized");
        stopped = true;
        return;
      }
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      onState("live");
      delay = 1000;
      if (!first) onEvent("resync", { reason: "reconnected" });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        last = Date.now();
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          parse(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } finally {
      clearInterval(watchdog);
    }
  }

  (async () => {
    let first = true;
    while (!stopped) {
      try {
        await connectOnce(first);
      } catch (error) {
        if (stopped) return;
      }
      first = false;
      if (stopped) return;
      onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 15000);
    }
  })();

  return () => {
    stopped = true;
    if (current) current.abort();
  };
}
