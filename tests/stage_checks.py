"""What a projector audience would notice, measured in the browser: text drawn over text, elements past the
right edge, headline numbers no larger than their labels. Used by ``test_browser_stage``.

Text boxes come from the DOM (one rectangle per line of each text node, so a wrapped paragraph is not one
big box) and from Plotly's SVG text (tick labels, titles, legend entries, annotations). A box clipped away
by a scrolling or hidden-overflow ancestor counts only for the part that is visible.
"""

from __future__ import annotations

PAGES = {
    "Home": "", "Labels": "Labels", "Stage 1": "Stage_1_Candidates", "Stage 2": "Stage_2_GBDT",
    "Stage 3": "Stage_3_Neural", "Post-processing": "Stage_4_Post_processing", "Feed": "Feed",
    "Rank shifts": "Rank_shifts", "Evaluation": "Evaluation",
}

_MEASURE = r"""() => {
    const W = document.documentElement.clientWidth;
    const main = document.querySelector('[data-testid=stMain]') || document.body;
    const visible = el => {
        for (let e = el; e && e !== document.body; e = e.parentElement) {
            const s = getComputedStyle(e);
            if (s.display === 'none' || s.visibility === 'hidden' || s.opacity === '0') return false;
            if (e.tagName === 'DETAILS' && !e.open && !el.closest('summary')) return false;
        }
        return true;
    };
    // the part of rect r that ancestors with clipping overflow let through (stMain scrolls vertically only)
    const clip = (el, r) => {
        let {left, top, right, bottom} = r;
        for (let e = el; e && e !== main && e !== document.body; e = e.parentElement) {
            const s = getComputedStyle(e);
            if (s.overflowX !== 'visible' || s.overflowY !== 'visible') {
                const c = e.getBoundingClientRect();
                if (s.overflowX !== 'visible') { left = Math.max(left, c.left); right = Math.min(right, c.right); }
                if (s.overflowY !== 'visible') { top = Math.max(top, c.top); bottom = Math.min(bottom, c.bottom); }
            }
        }
        return {left, top, right, bottom};
    };
    const name = el => {
        const box = el.closest('[data-testid]');
        return (box ? box.getAttribute('data-testid') : el.tagName.toLowerCase());
    };
    const boxes = [];
    let nodeId = 0;
    const add = (el, r, text, kind, node = ++nodeId) => {
        const c = clip(el, r);
        if (c.right - c.left < 2 || c.bottom - c.top < 2) return;
        boxes.push({...c, el, node, text: text.trim().slice(0, 60), where: name(el), kind});
    };
    // DOM text: each line box of each non-empty text node outside SVG and outside the (hidden) sidebar
    const walker = document.createTreeWalker(main, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        const el = n.parentElement;
        if (!n.textContent.trim() || el.closest('svg') || !visible(el)) continue;
        if (el.closest('[data-testid=stTooltipHoverTarget] ~ *, [role=tooltip], style, script')) continue;
        const range = document.createRange();
        range.selectNodeContents(n);
        const id = ++nodeId;  // the line boxes of one text node may touch; only different nodes collide
        for (const r of range.getClientRects()) add(el, r, n.textContent, 'dom', id);
    }
    // Plotly text (the hover layer excluded)
    for (const t of main.querySelectorAll('.js-plotly-plot svg text')) {
        if (!t.textContent.trim() || t.closest('.hoverlayer') || !visible(t)) continue;
        add(t, t.getBoundingClientRect(), t.textContent, 'svg');
    }
    const overlaps = [];
    for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
        const a = boxes[i], b = boxes[j];
        const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
        const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        // 3 px of slack: glyph boxes of adjacent lines and letters touch without ink overlapping
        const same = a.text === b.text && Math.abs(a.left - b.left) < 1 && Math.abs(a.top - b.top) < 1;
        if (w > 3 && h > 3 && a.node !== b.node && !same)
            overlaps.push(`"${a.text}" (${a.where}) over "${b.text}" (${b.where})`);
    }
    // a grid or chart drawn over text outside it (a data grid paints its cells on a canvas: no text nodes)
    for (const el of main.querySelectorAll('[data-testid=stDataFrame], [data-testid=stPlotlyChart]')) {
        if (!visible(el)) continue;
        const r = clip(el, el.getBoundingClientRect());
        for (const b of boxes) {
            if (b.kind !== 'dom' || el.contains(b.el)) continue;
            const w = Math.min(r.right, b.right) - Math.max(r.left, b.left);
            const h = Math.min(r.bottom, b.bottom) - Math.max(r.top, b.top);
            if (w > 3 && h > 3) overlaps.push(`${el.getAttribute('data-testid')} over "${b.text}" (${b.where})`);
        }
    }
    const past = [];
    for (const b of boxes)
        if (b.right > W + 1) past.push(`text "${b.text}" (${b.where}) ends at ${Math.round(b.right)} > ${W}`);
    const blocks = '[data-testid=stElementContainer] > *, [data-testid=stDataFrame], .js-plotly-plot';
    for (const el of main.querySelectorAll(blocks)) {
        if (!visible(el)) continue;
        const r = el.getBoundingClientRect();
        const c = clip(el, r);
        if (r.width && c.right > W + 1) past.push(`${name(el)} ends at ${Math.round(c.right)} > ${W}`);
    }
    if (main.scrollWidth > main.clientWidth + 1)
        past.push(`the page scrolls sideways (${main.scrollWidth} > ${main.clientWidth})`);
    const px = sel => [...main.querySelectorAll(sel)].filter(visible)
        .map(e => parseFloat(getComputedStyle(e).fontSize));
    const metricValues = px('[data-testid=stMetricValue]'), metricLabels = px('[data-testid=stMetricLabel] p');
    const small = [];
    if (metricValues.length && metricLabels.length && Math.min(...metricValues) <= Math.max(...metricLabels) * 1.2)
        small.push(`metric values ${Math.min(...metricValues)}px vs labels ${Math.max(...metricLabels)}px`);
    return {overlaps: [...new Set(overlaps)], past: [...new Set(past)], small};
}"""


def measure(page) -> dict[str, list[str]]:
    """Text overlaps, elements past the right edge and too-small headline numbers on the page as shown."""
    return page.evaluate(_MEASURE)
