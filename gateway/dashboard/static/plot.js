// A small SVG time-series plot: a line of averages over a band of min..max, with gaps where
// no data came, drawn at the container's pixel width so text stays crisp on a phone.
"use strict";

const Plot = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const PAD = { right: 10, top: 8, bottom: 18 };

  function el(name, attrs, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceRange(lo, hi) {
    if (!isFinite(lo) || !isFinite(hi)) return [0, 1];
    if (hi - lo < 1e-9) return [lo - 1, hi + 1];
    const pad = (hi - lo) * 0.08;
    return [lo - pad, hi + pad];
  }

  function fmt(v) {
    const a = Math.abs(v);
    return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
  }

  // Tick times: every 6 h for a day, every day (local midnight) for a week.
  function ticks(start, end) {
    const out = [];
    const span = end - start;
    const step = span <= 2 * 86400 ? 6 * 3600 : 86400;
    const d = new Date(start * 1000);
    if (step === 86400) d.setHours(0, 0, 0, 0);
    else d.setHours(Math.ceil(d.getHours() / 6) * 6, 0, 0, 0);
    for (let t = d.getTime() / 1000; t <= end; t += step) {
      if (t < start) continue;
      const date = new Date(t * 1000);
      const label = step === 86400
        ? date.toLocaleDateString(undefined, { weekday: "short" })
        : date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
      out.push([t, label]);
    }
    return out;
  }

  // points: [[t, avg, min, max], ...] in seconds, sorted;
  // opts: {span, now, step (on/off data), onLabel, offLabel, label}
  function render(container, points, opts) {
    const width = Math.max(160, Math.floor(container.clientWidth || 300));
    // On/off plots need less height; their left margin fits the longer of their words.
    const HEIGHT = opts.step ? 64 : 104;
    const words = opts.step ? Math.max((opts.onLabel || "on").length, (opts.offLabel || "off").length) : 5;
    const left = Math.max(30, 7 * words + 6);
    const end = opts.now;
    const start = end - opts.span;
    // Points past the end were stamped before the clock was set back (a Pi without RTC).
    const shown = points.filter((p) => p[0] >= start - 1 && p[0] <= end + 60);
    const svg = el("svg", {
      width, height: HEIGHT, viewBox: `0 0 ${width} ${HEIGHT}`, class: "plot",
      role: "img", "aria-label": opts.label || "history",
    });
    const x0 = left, x1 = width - PAD.right, y0 = HEIGHT - PAD.bottom, y1 = PAD.top;
    const x = (t) => x0 + ((t - start) / (end - start)) * (x1 - x0);
    svg.appendChild(el("line", { x1: x0, y1: y0, x2: x1, y2: y0, class: "axis" }));
    for (const [t, label] of ticks(start, end)) {
      svg.appendChild(el("line", { x1: x(t), y1: y1, x2: x(t), y2: y0, class: "grid" }));
      // Labels near an edge are anchored inside the plot so they are never cut off.
      const anchor = x(t) > x1 - 24 ? "end" : x(t) < x0 + 24 ? "start" : "middle";
      svg.appendChild(el("text", { x: x(t), y: HEIGHT - 4, class: "tick", "text-anchor": anchor }, label));
    }
    if (!shown.length) {
      svg.appendChild(el("text", { x: (x0 + x1) / 2, y: HEIGHT / 2, class: "empty", "text-anchor": "middle" },
        "no history yet"));
      container.replaceChildren(svg);
      return;
    }
    let lo = Infinity, hi = -Infinity;
    for (const p of shown) { lo = Math.min(lo, p[2]); hi = Math.max(hi, p[3]); }
    if (opts.step) { lo = 0; hi = 1; }
    const [ylo, yhi] = opts.step ? [-0.1, 1.1] : niceRange(lo, hi);
    const y = (v) => y0 - ((v - ylo) / (yhi - ylo)) * (y0 - y1);
    if (!opts.step) {
      svg.appendChild(el("text", { x: x0 - 4, y: y(hi) + 4, class: "tick", "text-anchor": "end" }, fmt(hi)));
      svg.appendChild(el("text", { x: x0 - 4, y: y(lo) + 4, class: "tick", "text-anchor": "end" }, fmt(lo)));
    } else {
      svg.appendChild(el("text", { x: x0 - 4, y: y(1) + 4, class: "tick", "text-anchor": "end" }, opts.onLabel || "on"));
      svg.appendChild(el("text", { x: x0 - 4, y: y(0) + 4, class: "tick", "text-anchor": "end" }, opts.offLabel || "off"));
    }
    // A gap longer than a few buckets is drawn as a gap, not as a straight line.
    const gap = Math.max(opts.span / 288 * 4, 600);
    const runs = [];
    let run = [];
    for (const p of shown) {
      if (run.length && p[0] - run[run.length - 1][0] > gap) { runs.push(run); run = []; }
      run.push(p);
    }
    runs.push(run);
    for (const r of runs) {
      let line = "", band = "", back = "";
      r.forEach((p, i) => {
        const px = x(p[0]).toFixed(1);
        if (opts.step && i > 0) line += `L${px},${y(r[i - 1][1]).toFixed(1)}`;
        line += `${i ? "L" : "M"}${px},${y(p[1]).toFixed(1)}`;
        band += `${i ? "L" : "M"}${px},${y(p[3]).toFixed(1)}`;
        back = `L${px},${y(p[2]).toFixed(1)}` + back;
      });
      if (!opts.step && r.some((p) => p[3] > p[2])) {
        svg.appendChild(el("path", { d: band + back + "Z", class: "band" }));
      }
      if (r.length === 1) {
        svg.appendChild(el("circle", { cx: x(r[0][0]), cy: y(r[0][1]), r: 2, class: "dot" }));
      } else {
        svg.appendChild(el("path", { d: line, class: "line" }));
      }
    }
    container.replaceChildren(svg);
  }

  return { render };
})();
