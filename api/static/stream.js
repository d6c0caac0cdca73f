// A stream that survives drops, for the dashboard: EventSource over a short-lived stream token.
//
// `ctx` gives the current stream token (streamToken()), a way to renew it (renew()) and to
// show the connection's state (setConn(state)).
"use strict";

window.jobstreamStream = (ctx) => {
  // Opens `path` as an EventSource and calls handlers[event](data, id). EventSource reconnects
  // by itself (sending Last-Event-ID); when it gives up (say the stream token expired) or the
  // server sends an `error` frame, a new EventSource resumes with ?last_event_id=.
  return class Stream {
    constructor(path, params, handlers) {
      this.path = path;
      this.params = params;
      this.handlers = handlers;
      this.lastId = null;
      this.es = null;
      this.retry = null;
      this.delay = 500;
      this.closed = false;
    }

    open(lastId) {
      if (this.closed) return;
      const query = new URLSearchParams(this.params);
      query.set("token", ctx.streamToken());
      if (lastId !== null && lastId !== undefined) query.set("last_event_id", String(lastId));
      const es = new EventSource(`${this.path}?${query}`);
      this.es = es;
      es.onopen = () => { this.delay = 500; ctx.setConn("live"); };
      for (const name of Object.keys(this.handlers)) {
        es.addEventListener(name, (e) => {
          if (es !== this.es) return;
          if (e.lastEventId) this.lastId = e.lastEventId;
          this.handlers[name](JSON.parse(e.data), e.lastEventId);
        });
      }
      es.addEventListener("error", (e) => this.onError(es, e));
    }

    onError(es, e) {
      if (es !== this.es || this.closed) return;
      if (e instanceof MessageEvent && e.data) {  // the server dropped us, saying where to resume
        const data = JSON.parse(e.data);
        if (data.resume === undefined) { this.close(); return; }
        this.lastId = String(data.resume);
        this.reopen(this.lastId);
      } else if (es.readyState === EventSource.CLOSED) {
        this.reopen(this.lastId);
      } else {
        ctx.setConn("reconnecting");  // the browser retries on its own, with Last-Event-ID
      }
    }

    reopen(lastId) {
      this.es.close();
      ctx.setConn("reconnecting");
      clearTimeout(this.retry);
      this.retry = setTimeout(async () => {
        try { await ctx.renew(); } catch (err) { /* open() retries below */ }
        this.open(lastId);
      }, this.delay);
      this.delay = Math.min(this.delay * 2, 10000);
    }

    close() {
      this.closed = true;
      clearTimeout(this.retry);
      if (this.es) this.es.close();
    }
  };
};
