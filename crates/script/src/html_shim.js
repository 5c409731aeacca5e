// k6/html's Selection and Element (goquery's semantics, as k6 exposes them)
// over documents parsed and kept in Rust (html.rs). A Selection holds its
// document's handle object and the indexes of its nodes; the document is
// freed when no Selection or Element refers to its handle any more.
(function (n) {
  "use strict";
  const registry = new FinalizationRegistry((id) => n.free(id));
  const newDoc = (src) => {
    const id = n.parse(src);
    const doc = { id };
    registry.register(doc, id);
    return doc;
  };

  const typeName = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  const badSelector = (v) => new TypeError(`invalid argument, cannot use a '${typeName(v)}' as a selector`);
  const optional = (sel) => (sel === undefined || sel === null ? undefined : String(sel));
  const union = (a, b) => {
    const seen = new Set(a);
    const out = a.slice();
    for (const x of b) if (!seen.has(x)) { seen.add(x); out.push(x); }
    return out;
  };
  const unsupported = (what) => function () {
    throw new Error(`Selection.${what}() is not supported by Stampede yet`);
  };

  // data-* values as k6 converts them.
  const dataValue = (v) => {
    if (v === '') return undefined;
    if (v[0] === '{' || v[0] === '[') {
      try { return JSON.parse(v); } catch (_) { return v; }
    }
    if (v === 'true') return true;
    if (v === 'false') return false;
    if (v === 'null' || v === 'undefined') return undefined;
    if (/^-?\d+(\.\d+)?$/.test(v) && String(Number(v)) === v) return Number(v);
    return v;
  };
  const camel = (s) => s.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
  const kebab = (s) => s.replace(/([a-z0-9])([A-Z])/g, '$1-$2').replace(/_/g, '-').toLowerCase();

  class Selection {
    constructor(doc, nodes, prev, url) {
      this._d = doc;
      this._n = nodes;
      this._p = prev;
      this.url = url;
    }
    _of(nodes) { return new Selection(this._d, nodes, this, this.url); }
    _walk(axis, sel) { return this._of(n.walk(this._d.id, this._n, axis, sel)); }
    _same(other) { return other._d === this._d ? other._n : []; }
    // The nodes an argument names: a selector's (from the whole document), a Selection's, an Element's.
    _nodesOf(arg, what) {
      if (arg instanceof Selection) return this._same(arg);
      if (arg instanceof Element) return arg._d === this._d ? [arg._i] : [];
      throw badSelector(arg, what);
    }
    _matcher(fn) {
      return (i) => !!fn.call(fn, i, this._of([this._n[i]]));
    }

    find(sel) {
      if (typeof sel === 'string') return this._walk('find', sel);
      return this._of(n.within(this._d.id, this._n, this._nodesOf(sel)));
    }
    filter(sel) {
      if (typeof sel === 'string') return this._walk('filter', sel);
      if (typeof sel === 'function') return this._of(this._n.filter((_, i) => this._matcher(sel)(i)));
      if (sel instanceof Selection) {
        const keep = new Set(this._same(sel));
        return this._of(this._n.filter((x) => keep.has(x)));
      }
      throw new Error('the argument to filter() must be a function, a selector or a selection');
    }
    not(sel) {
      if (typeof sel === 'string') return this._walk('not', sel);
      if (typeof sel === 'function') return this._of(this._n.filter((_, i) => !this._matcher(sel)(i)));
      const drop = new Set(this._nodesOf(sel));
      return this._of(this._n.filter((x) => !drop.has(x)));
    }
    is(sel) {
      if (typeof sel === 'string') return this._n.length > 0 && n.walk(this._d.id, this._n, 'filter', sel).length > 0;
      if (typeof sel === 'function') return this._n.some((_, i) => this._matcher(sel)(i));
      if (sel instanceof Selection) {
        const other = new Set(this._same(sel));
        return this._n.some((x) => other.has(x));
      }
      throw new Error('the argument to is() must be a function, a selector or a selection');
    }
    has(sel) {
      if (typeof sel === 'string') return this._walk('has', sel);
      const inner = this._nodesOf(sel);
      return this._of(this._n.filter((x) => n.within(this._d.id, [x], inner).length > 0));
    }
    closest(sel) {
      if (typeof sel === 'string') return this._walk('closest', sel);
      const set = new Set(this._nodesOf(sel));
      const out = [];
      for (const x of this._n) {
        const up = [x].concat(n.walk(this._d.id, [x], 'parents', undefined));
        const hit = up.find((a) => set.has(a));
        if (hit !== undefined && !out.includes(hit)) out.push(hit);
      }
      return this._of(out);
    }
    add(sel) {
      if (typeof sel === 'string') return this._of(union(this._n, n.walk(this._d.id, [0], 'find', sel)));
      return this._of(union(this._n, this._nodesOf(sel)));
    }
    children(sel) { return this._walk('children', optional(sel)); }
    contents() { return this._walk('contents', undefined); }
    parent(sel) { return this._walk('parent', optional(sel)); }
    parents(sel) { return this._walk('parents', optional(sel)); }
    next(sel) { return this._walk('next', optional(sel)); }
    nextAll(sel) { return this._walk('nextAll', optional(sel)); }
    prev(sel) { return this._walk('prev', optional(sel)); }
    prevAll(sel) { return this._walk('prevAll', optional(sel)); }
    siblings(sel) { return this._walk('siblings', optional(sel)); }
    end() { return this._p === undefined ? this._of([]) : this._p; }

    size() { return this._n.length; }
    eq(i) {
      let k = Math.trunc(Number(i));
      if (k < 0) k += this._n.length;
      return this._of(k >= 0 && k < this._n.length ? [this._n[k]] : []);
    }
    first() { return this.eq(0); }
    last() { return this.eq(-1); }
    slice(start, end) {
      const len = this._n.length;
      return this._of(this._n.slice(Number(start), end === undefined || end >= len ? len : Number(end)));
    }
    get(i) {
      if (i === undefined) return this._n.map((x) => new Element(this._d, x, this.url));
      const k = Math.trunc(Number(i));
      if (!(k < this._n.length && k > -this._n.length)) return undefined;
      return new Element(this._d, this._n[k < 0 ? k + this._n.length : k], this.url);
    }
    toArray() { return this._n.map((x) => this._of([x])); }
    index(arg) {
      if (arg === undefined) return this._n.length === 0 ? -1 : n.walk(this._d.id, [this._n[0]], 'prevAll', undefined).length;
      if (this._n.length === 0 && typeof arg === 'string') return -1;
      if (typeof arg === 'string') return n.walk(this._d.id, [0], 'find', arg).indexOf(this._n[0]);
      if (arg instanceof Selection) return arg._n.length === 0 ? -1 : this._n.indexOf(this._same(arg)[0]);
      if (arg instanceof Element) return arg._d === this._d ? this._n.indexOf(arg._i) : -1;
      return -1;
    }
    each(fn) {
      if (typeof fn !== 'function') throw new Error('the argument to each() must be a function');
      for (let i = 0; i < this._n.length; i++) {
        try {
          fn.call(fn, i, new Element(this._d, this._n[i], this.url));
        } catch (e) {
          throw new Error(`the function passed to each() failed: ${e instanceof Error ? e.message : String(e)}`);
        }
      }
      return this;
    }
    // As k6: the values of the calls that did not throw.
    map(fn) {
      if (typeof fn !== 'function') throw new Error('the argument to map() must be a function');
      const out = [];
      for (let i = 0; i < this._n.length; i++) {
        try {
          out.push(fn.call(fn, i, this._of([this._n[i]])));
        } catch (_) { /* dropped, as k6 drops it */ }
      }
      return out;
    }

    text() { return n.text(this._d.id, this._n); }
    html() { return this._n.length === 0 ? '' : n.html(this._d.id, this._n[0]); }
    attr(name, ...dflt) {
      const v = this._n.length === 0 ? undefined : n.attr(this._d.id, this._n[0], String(name));
      if (v === undefined || v === null) return dflt.length > 0 ? dflt[0] : undefined;
      return v;
    }
    _name() { return this._n.length === 0 ? '' : n.name(this._d.id, this._n[0]); }
    _valueOrHtml() {
      const v = this.attr('value');
      return v === undefined ? this.html() : v;
    }
    val() {
      switch (this._name()) {
        case 'input': {
          const v = this.attr('value');
          if (v !== undefined) return v;
          const t = this.attr('type');
          return t === 'radio' || t === 'checkbox' ? 'on' : '';
        }
        case 'button': {
          const v = this.attr('value');
          return v === undefined ? '' : v;
        }
        case 'textarea': return this.html();
        case 'option': return this._valueOrHtml();
        case 'select': {
          const selected = this.first().find('option[selected]');
          if (this.attr('multiple') !== undefined) return selected.map((_, o) => o._valueOrHtml());
          return selected._valueOrHtml();
        }
        default: return undefined;
      }
    }
    data(key) {
      if (this._n.length === 0) return undefined;
      const flat = n.attrs(this._d.id, this._n[0]);
      if (flat.length === 0) return undefined;
      if (key !== undefined) {
        const v = this.attr(`data-${kebab(String(key))}`);
        return v === undefined ? undefined : dataValue(v);
      }
      const out = {};
      for (let i = 0; i + 1 < flat.length; i += 2) {
        if (flat[i].startsWith('data-') && flat[i].length > 5) out[camel(flat[i].slice(5))] = dataValue(flat[i + 1]);
      }
      return out;
    }
  }
  // The script transform routes `x.find(…)`, `x.map(…)`, `x.filter(…)` and
  // `x.each(…)` whose callback may block to the shim's `__k6.A`, which hands a
  // Selection's back here: k6's semantics, each callback's promise awaited in turn.
  Selection.prototype.__k6hof = async function (method, args) {
    const [fn] = args;
    switch (method) {
      case 'find': return this.find(fn);
      case 'filter': {
        if (typeof fn !== 'function') return this.filter(fn);
        const keep = [];
        for (let i = 0; i < this._n.length; i++) if (await fn.call(fn, i, this._of([this._n[i]]))) keep.push(this._n[i]);
        return this._of(keep);
      }
      case 'map': {
        if (typeof fn !== 'function') throw new Error('the argument to map() must be a function');
        const out = [];
        for (let i = 0; i < this._n.length; i++) {
          try {
            out.push(await fn.call(fn, i, this._of([this._n[i]])));
          } catch (_) { /* dropped, as k6 drops it */ }
        }
        return out;
      }
      case 'each': {
        if (typeof fn !== 'function') throw new Error('the argument to each() must be a function');
        for (let i = 0; i < this._n.length; i++) {
          try {
            await fn.call(fn, i, new Element(this._d, this._n[i], this.url));
          } catch (e) {
            throw new Error(`the function passed to each() failed: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
        return this;
      }
      default: throw new TypeError(`Selection.${method} is not a function`);
    }
  };
  for (const m of ['nextUntil', 'prevUntil', 'parentsUntil', 'serialize', 'serializeArray', 'serializeObject']) {
    Selection.prototype[m] = unsupported(m);
  }

  // The DOM-like node k6's get() and each() give.
  class Element {
    constructor(doc, i, url) {
      this._d = doc;
      this._i = i;
      this._url = url;
    }
    _el(i) { return i < 0 ? undefined : new Element(this._d, i, this._url); }
    _list(axis, sel) { return n.walk(this._d.id, [this._i], axis, sel).map((x) => new Element(this._d, x, this._url)); }
    selection() { return new Selection(this._d, [this._i], undefined, this._url); }
    nodeName() { return n.name(this._d.id, this._i); }
    nodeType() {
      const t = n.type(this._d.id, this._i);
      return t === 0 ? undefined : t;
    }
    nodeValue() {
      const t = n.type(this._d.id, this._i);
      return t === 3 || t === 8 ? this.textContent() : undefined;
    }
    textContent() { return n.text(this._d.id, [this._i]); }
    innerHTML() { return n.html(this._d.id, this._i); }
    getAttribute(name) {
      const v = n.attr(this._d.id, this._i, String(name));
      return v === null ? undefined : v;
    }
    hasAttribute(name) { return this.getAttribute(name) !== undefined; }
    hasAttributes() { return n.attrs(this._d.id, this._i).length > 0; }
    attributes() {
      const flat = n.attrs(this._d.id, this._i);
      const out = {};
      for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]] = { name: flat[i], value: flat[i + 1], owner_element: this };
      return out;
    }
    id() {
      const v = this.getAttribute('id');
      return v === undefined ? '' : v;
    }
    className() { return this.getAttribute('class'); }
    classList() {
      const c = this.getAttribute('class');
      return c === undefined ? [] : c.split(/\s+/).filter((x) => x !== '');
    }
    lang() { return this.getAttribute('lang'); }
    toString() {
      return n.type(this._d.id, this._i) === 1 ? '[object html.Node]' : `[object ${this.nodeName()}]`;
    }
    hasChildNodes() { return n.related(this._d.id, this._i, 'first') >= 0; }
    parentNode() { return this._el(n.related(this._d.id, this._i, 'parent')); }
    parentElement() { return this._list('parent', undefined)[0]; }
    firstChild() { return this._el(n.related(this._d.id, this._i, 'first')); }
    lastChild() { return this._el(n.related(this._d.id, this._i, 'last')); }
    nextSibling() { return this._el(n.related(this._d.id, this._i, 'next')); }
    previousSibling() { return this._el(n.related(this._d.id, this._i, 'prev')); }
    firstElementChild() { return this._list('children', undefined)[0]; }
    lastElementChild() { const c = this._list('children', undefined); return c[c.length - 1]; }
    nextElementSibling() { return this._list('next', undefined)[0]; }
    previousElementSibling() { return this._list('prev', undefined)[0]; }
    children() { return this._list('children', undefined); }
    childNodes() { return this._list('contents', undefined); }
    childElementCount() { return this._list('children', undefined).length; }
    ownerDocument() { return new Element(this._d, 0, this._url); }
    querySelector(sel) { return this._list('find', String(sel))[0]; }
    querySelectorAll(sel) { return this._list('find', String(sel)); }
    getElementsByClassName(name) { return this._list('find', `.${name}`); }
    getElementsByTagName(name) { return this._list('find', String(name)); }
    matches(sel) { return n.walk(this._d.id, [this._i], 'filter', String(sel)).length > 0; }
    contains(other) {
      return other instanceof Element && other._d === this._d && other._i !== this._i
        && n.within(this._d.id, [this._i], [other._i]).length > 0;
    }
    isSameNode(other) { return other instanceof Element && other._d === this._d && other._i === this._i; }
    isEqualNode(other) { return other instanceof Element && other.innerHTML() === this.innerHTML(); }
  }

  return {
    // A response's document (k6's res.html()).
    parse: (src, url) => new Selection(newDoc(String(src)), [0], undefined, url === undefined ? '' : String(url)),
    // k6/html's parseHTML(src).
    parseHTML: (src) => new Selection(newDoc(String(src)), [0], undefined, ''),
    // Documents in the store (tests).
    live: () => n.live(),
  };
})
