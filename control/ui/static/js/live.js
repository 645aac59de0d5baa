// Live changes from GET /admin/events, read with fetch (EventSource cannot send the
// Authorization header, and the token must never go in a URL). Reconnects with backoff; after
// a reconnect the page is told to read everything again ("resync"). A hidden tab closes its
// stream (browsers allow about six connections per origin over HTTP/1.1, so many open tabs
// must not each hold one) and reopens it, with a resync, when shown again.
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

  let wake = null; // resolves when the tab is shown again
  const onVisibility = () => {
    if (document.visibilityState === "hidden") {
      if (current) current.abort();
    } else if (wake) {
      wake();
    }
  };
  document.addEventListener("visibilitychange", onVisibility);

  (async () => {
    let first = true;
    while (!stopped) {
      if (document.visibilityState === "hidden") {
        onState("paused");
        await new Promise((resolve) => { wake = resolve; });
        wake = null;
        delay = 0;
        if (stopped) return;
      }
      try {
        await connectOnce(first);
      } catch (error) {
        if (stopped) return;
      }
      first = false;
      if (stopped) return;
      if (document.visibilityState === "hidden") continue;
      onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(Math.max(delay * 2, 1000), 15000);
    }
  })();

  return () => {
    stopped = true;
    document.removeEventListener("visibilitychange", onVisibility);
    if (current) current.abort();
    if (wake) wake();
  };
}
