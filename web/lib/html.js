// Markup: the escaping `html` tag, and redrawing the view in place (patchView, patchInto).
import { generation } from './state.js';

const RAW = Symbol('raw');
/** Marks trusted markup so `html` does not escape it. */
export const raw = (markup) => ({ [RAW]: markup });
const escape = (v) =>
  String(v).replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
  );
export function piece(v) {
  if (v === null || v === undefined || v === false) return '';
  if (Array.isArray(v)) return v.map(piece).join('');
  if (typeof v === 'object' && RAW in v) return v[RAW];
  return escape(v);
}
/** A template tag that escapes every interpolated value unless it is `raw()` or built by `html`. */
export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((v, i) => {
    out += piece(v) + strings[i + 1];
  });
  return raw(out);
}
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
export const view = () => $('#view');
export function show(markup) {
  view().innerHTML = piece(markup);
  view().dataset.generation = String(generation);
}

/** An element's identity across redraws: its id, or its `data-key`. */
const keyOf = (n) => (n.nodeType === 1 ? n.id || n.getAttribute('data-key') || null : null);
/** Makes `from` look like `to` by changing only what differs, so nodes the user is on stay. */
export function morph(from, to) {
  if (from.nodeType !== to.nodeType || from.nodeName !== to.nodeName) return from.replaceWith(to);
  if (from.nodeType !== 1) {
    if (from.data !== to.data) from.data = to.data;
    return;
  }
  for (const { name } of [...from.attributes])
    if (!to.hasAttribute(name)) from.removeAttribute(name);
  for (const { name, value } of [...to.attributes])
    if (from.getAttribute(name) !== value) from.setAttribute(name, value);
  morphChildren(from, to);
}
function morphChildren(from, to) {
  const old = [...from.childNodes];
  const byKey = new Map(old.filter(keyOf).map((n) => [keyOf(n), n]));
  const used = new Set();
  let next = 0;
  const pairs = [...to.childNodes].map((n) => {
    const key = keyOf(n);
    let match = null;
    if (key) match = byKey.get(key)?.nodeName === n.nodeName ? byKey.get(key) : null;
    else {
      let j = next;
      while (
        j < old.length &&
        (used.has(old[j]) || keyOf(old[j]) || old[j].nodeName !== n.nodeName)
      )
        j++;
      if (j < old.length) [match, next] = [old[j], j + 1];
    }
    if (match && used.has(match)) match = null;
    if (match) used.add(match);
    return [n, match];
  });
  // What goes is removed first, so what stays is not moved: moving a node blurs it.
  for (const n of old) if (!used.has(n)) n.remove();
  let ref = from.firstChild;
  for (const [n, match] of pairs) {
    if (!match) from.insertBefore(n, ref);
    else {
      if (match === ref) ref = ref.nextSibling;
      else from.insertBefore(match, ref);
      morph(match, n);
    }
  }
}
/**
 * Redraws the view in place: a live update changes what changed and keeps the focused element,
 * the scroll position and anything typed. A view's first draw (after navigating) starts afresh.
 */
export function patchView(markup) {
  if (view().dataset.generation !== String(generation)) return show(markup);
  patchInto(view(), markup);
}
/** Redraws one element's contents in place, keeping focus, scroll and anything typed. */
export function patchInto(el, markup) {
  const [x, y] = [window.scrollX, window.scrollY];
  const focused = document.activeElement;
  const template = document.createElement('template');
  template.innerHTML = piece(markup);
  morphChildren(el, template.content);
  // A focused node that was redrawn anew (its place removed and added back) is found by its key.
  const key = focused && focused !== document.body && !focused.isConnected && keyOf(focused);
  if (key)
    (focused.id ? document.getElementById(key) : $(`[data-key="${CSS.escape(key)}"]`, el))?.focus({
      preventScroll: true,
    });
  if (window.scrollX !== x || window.scrollY !== y) window.scrollTo(x, y);
}
