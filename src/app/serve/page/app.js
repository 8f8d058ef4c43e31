// The playground's page: drawing, the calls to the JSON API, and showing what comes back.
// Plain JavaScript, no libraries: the server embeds this file as it is.
'use strict';

const $ = (id) => document.getElementById(id);
const SIDE = 28;

const state = {
  model: null,        // GET /api/model
  digit: null,        // the test digit on the pad, until the pad is drawn on
  sent: null,         // the {pixels, preprocess} of the last prediction shown
  prediction: null,   // the last POST /api/predict answer
  dirty: false,       // the pad changed since the last request was sent
  inFlight: false,
  camClass: null,     // the class picked for Grad-CAM (null: the prediction)
  selection: null,    // {layer, row, col, channel} under the microscope
  showAllChannels: false,
  busy: 0,
};

// ---------------------------------------------------------------- the API

async function api(path, body) {
  state.busy += 1;
  document.body.dataset.busy = String(state.busy);
  try {
    const init = body === undefined ? {} : {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    };
    const response = await fetch(path, init);
    const json = await response.json();
    if (!response.ok) throw new Error(json.error || response.statusText);
    return json;
  } finally {
    state.busy -= 1;
    document.body.dataset.busy = String(state.busy);
  }
}

function toast(message) {
  let box = $('toast');
  if (!box) {
    box = document.createElement('div');
    box.id = 'toast';
    box.setAttribute('role', 'alert');
    document.body.append(box);
  }
  box.textContent = message;
  box.classList.add('shown');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => box.classList.remove('shown'), 6000);
}

// ---------------------------------------------------------------- numbers and colours

/** A value for a small table cell. */
function cell(v) {
  if (v === null || v === undefined) return '';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 0.001) return v.toExponential(0);
  if (a >= 100) return v.toFixed(0);
  return v.toFixed(a >= 10 ? 1 : 3);
}

/** A value in an equation: more digits. */
function exact(v) {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && a < 1e-4) return v.toExponential(4);
  return v.toFixed(5);
}

/** The jet colour map, as `convnets::picture::jet`: 0 dark blue … 1 dark red. */
function jet(t) {
  t = Math.min(Math.max(t, 0), 1);
  const channel = (centre) => Math.round(255 * Math.min(Math.max(1.5 - Math.abs(4 * t - centre), 0), 1));
  return `rgb(${channel(3)}, ${channel(2)}, ${channel(1)})`;
}

/** Blue for negative, red for positive, white for 0; `scale` is the largest magnitude. */
function diverging(v, scale) {
  if (v === null || v === undefined) return 'transparent';
  const t = scale > 0 ? Math.min(Math.abs(v) / scale, 1) : 0;
  const fade = Math.round(255 * (1 - 0.75 * t));
  return v >= 0 ? `rgb(255, ${fade}, ${fade})` : `rgb(${fade}, ${fade}, 255)`;
}

function grey(v) {
  if (v === null || v === undefined) return 'transparent';
  const g = Math.round(255 * Math.min(Math.max(v, 0), 1));
  return `rgb(${g}, ${g}, ${g})`;
}

/** Black or white, whichever reads better on the `rgb(…)` colour `background`. */
function textOn(background) {
  const [r, g, b] = (background.match(/\d+/g) || [255, 255, 255]).map(Number);
  return 0.299 * r + 0.587 * g + 0.114 * b < 140 ? '#fff' : '#000';
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('data-')) node.setAttribute(key, value);
    else node[key] = value;
  }
  node.append(...children);
  return node;
}

// ---------------------------------------------------------------- the drawing pad

const pad = $('pad');
const ink = pad.getContext('2d', { willReadFrequently: true });

function clearPad() {
  ink.fillStyle = '#fff';
  ink.fillRect(0, 0, pad.width, pad.height);
}

function padPoint(event) {
  const box = pad.getBoundingClientRect();
  return {
    x: (event.clientX - box.left) * pad.width / box.width,
    y: (event.clientY - box.top) * pad.height / box.height,
  };
}

// The stroke being drawn: the pad as it was before it, and its points so far. The whole
// stroke is drawn again at each move, so its edges stay smooth where segments meet.
let drawing = null; // { before: ImageData, points: [{x, y}] }

function drawStroke() {
  ink.putImageData(drawing.before, 0, 0);
  ink.strokeStyle = '#111';
  ink.lineWidth = pad.width * 0.08;
  ink.lineCap = 'round';
  ink.lineJoin = 'round';
  ink.beginPath();
  const [first, ...rest] = drawing.points;
  ink.moveTo(first.x, first.y);
  for (const p of rest.length ? rest : [first]) ink.lineTo(p.x, p.y);
  ink.stroke();
}

pad.addEventListener('pointerdown', (event) => {
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  drawing = { before: ink.getImageData(0, 0, pad.width, pad.height), points: [padPoint(event)] };
  drawStroke();
  padChanged();
});

pad.addEventListener('pointermove', (event) => {
  if (!drawing) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const e of events.length ? events : [event]) drawing.points.push(padPoint(e));
  drawStroke();
  padChanged();
});

for (const type of ['pointerup', 'pointercancel']) {
  pad.addEventListener(type, () => {
    if (!drawing) return;
    drawing = null;
    padChanged();
  });
}

const PREPARED = $('seen-note').innerHTML;

/** Says where the input comes from: a test digit (`digit`) or the drawing (`null`). */
function setSource(digit, note) {
  state.digit = digit;
  $('source-note').textContent = note;
  $('seen-note').innerHTML = digit
    ? 'MNIST\'s own 28×28 grey values, as the model was trained on: nothing to prepare.'
    : PREPARED;
}

function padChanged() {
  if (state.digit) setSource(null, 'Your drawing (over the test digit).');
  requestPrediction();
}

/** The pad as 28×28 grey values in 0..1 (row-major), as the browser shrinks it. */
function padPixels() {
  const small = document.createElement('canvas');
  small.width = SIDE;
  small.height = SIDE;
  const c = small.getContext('2d');
  c.imageSmoothingEnabled = true;
  c.imageSmoothingQuality = 'high';
  c.drawImage(pad, 0, 0, SIDE, SIDE);
  const rgba = c.getImageData(0, 0, SIDE, SIDE).data;
  const pixels = new Array(SIDE * SIDE);
  for (let i = 0; i < pixels.length; i += 1) {
    pixels[i] = Math.round((rgba[4 * i] + rgba[4 * i + 1] + rgba[4 * i + 2]) / 3) / 255;
  }
  return pixels;
}

/** What to send: the test digit as it is, or the drawing, to be prepared by the server. */
function currentInput() {
  if (state.digit) return { pixels: state.digit.pixels, preprocess: false };
  return { pixels: padPixels(), preprocess: true };
}

$('clear').addEventListener('click', () => {
  clearPad();
  setSource(null, 'Draw with a mouse, pen or finger.');
  requestPrediction();
});

$('random').addEventListener('click', () => loadDigit());

async function loadDigit() {
  try {
    const digit = await api('/api/digit');
    const cellSize = pad.width / SIDE;
    for (let i = 0; i < SIDE * SIDE; i += 1) {
      ink.fillStyle = grey(1 - digit.pixels[i]);
      ink.fillRect((i % SIDE) * cellSize, Math.floor(i / SIDE) * cellSize, cellSize, cellSize);
    }
    setSource(digit, `MNIST test digit #${digit.index}, labelled ${digit.label}.`);
    requestPrediction();
  } catch (error) {
    toast(error.message);
  }
}

// ---------------------------------------------------------------- predicting

/** Sends the pad, at most one request at a time; the last change is always sent. */
function requestPrediction() {
  state.dirty = true;
  document.body.dataset.settled = '0';
  if (!state.inFlight) predictLoop();
}

async function predictLoop() {
  state.inFlight = true;
  try {
    while (state.dirty) {
      state.dirty = false;
      const input = currentInput();
      try {
        const prediction = await api('/api/predict', input);
        state.sent = input;
        state.prediction = prediction;
        showPrediction(prediction);
      } catch (error) {
        toast(error.message);
      }
    }
  } finally {
    state.inFlight = false;
  }
  // The pad is still: explain it.
  if (!drawing) await Promise.all([refreshCam(), refreshMicroscope()]);
  // `settled`: everything on the page shows the pad as it is (what tests wait for).
  if (!state.inFlight && !state.dirty && !drawing) document.body.dataset.settled = '1';
}

function showPrediction(p) {
  // What the model sees.
  const seen = $('seen').getContext('2d');
  const image = seen.createImageData(SIDE, SIDE);
  p.input.forEach((v, i) => {
    const g = Math.round(255 * v);
    image.data.set([g, g, g, 255], 4 * i);
  });
  seen.putImageData(image, 0, 0);

  // Probabilities.
  const list = $('probs');
  list.replaceChildren(...p.probabilities.map((probability, digit) => {
    const percent = 100 * probability;
    const item = el('li', { class: digit === p.prediction ? 'best' : '', title: `pick ${digit} for Grad-CAM` },
      el('span', { class: 'digit', text: String(digit) }),
      el('span', { class: 'bar' }, el('span', { class: 'fill' })),
      el('span', { class: 'percent', text: `${percent.toFixed(1)}%` }));
    item.querySelector('.fill').style.width = `${percent}%`;
    item.addEventListener('click', () => pickClass(digit));
    return item;
  }));
  $('prediction').textContent = String(p.prediction);
  $('prediction').dataset.probability = String(p.probabilities[p.prediction]);

  // Every layer's output.
  for (const layer of p.layers) showLayer(layer);
}

// ---------------------------------------------------------------- the layers

/** How many screen pixels one value of an `h`-high map takes. */
function tileScale(h) {
  return Math.max(2, Math.round(56 / h));
}

function buildLayers(model) {
  const box = $('layers');
  box.replaceChildren();
  for (const layer of model.layers) {
    const [h, w, c] = layer.shape;
    const title = el('h3', {},
      el('span', { class: 'name', text: layer.name }),
      el('span', { class: 'shape', text: layer.shape.join('×') }));
    const detail = el('p', { class: 'detail',
      text: `${layer.detail}${layer.params ? ` · ${layer.params.toLocaleString('en')} weights` : ''}` });
    const section = el('section', { class: `layer ${layer.kind}`, 'data-layer': String(layer.index) }, title, detail);
    if (layer.shape.length === 3) {
      const tiles = el('div', { class: 'tiles' });
      const scale = tileScale(h);
      for (let k = 0; k < c; k += 1) {
        const canvas = el('canvas', { width: w, height: h, class: 'pixelated' });
        canvas.style.width = `${w * scale}px`;
        canvas.style.height = `${h * scale}px`;
        const frame = el('div', { class: 'tile-box' }, canvas);
        const figure = el('figure', { class: 'tile', 'data-channel': String(k) }, frame,
          el('figcaption', { text: String(k) }));
        if (['conv2d', 'max_pooling2d', 'average_pooling2d'].includes(layer.kind)) {
          figure.classList.add('clickable');
          canvas.addEventListener('click', (event) => {
            const r = canvas.getBoundingClientRect();
            const col = Math.min(w - 1, Math.floor((event.clientX - r.left) / r.width * w));
            const row = Math.min(h - 1, Math.floor((event.clientY - r.top) / r.height * h));
            select({ layer: layer.index, row, col, channel: k });
          });
        }
        tiles.append(figure);
      }
      section.append(tiles, el('img', { class: 'sprite', alt: '', hidden: true }));
    } else if (layer.kind === 'dense') {
      section.append(el('div', { class: 'units' }));
    } else {
      const previous = model.layers[layer.index - 1];
      if (previous) {
        detail.textContent = `${previous.name}'s ${previous.shape.join('×')} values read out as one row of ` +
          `${layer.shape[0]} numbers: the dense layers' input`;
      }
    }
    box.append(section);
  }
}

function showLayer(output) {
  const section = document.querySelector(`section.layer[data-layer="${output.index}"]`);
  if (!section) return;
  if (output.maps) {
    const sprite = section.querySelector('img.sprite');
    const [h, w] = output.shape;
    sprite.onload = () => {
      section.querySelectorAll('figure.tile').forEach((figure, k) => {
        const canvas = figure.querySelector('canvas');
        const c = canvas.getContext('2d');
        const sx = (k % output.maps.columns) * w;
        const sy = Math.floor(k / output.maps.columns) * h;
        c.clearRect(0, 0, w, h);
        c.drawImage(sprite, sx, sy, w, h, 0, 0, w, h);
        figure.title = `channel ${k}: from ${cell(output.maps.min[k])} (black) to ${cell(output.maps.max[k])} (white)`;
        figure.classList.toggle('silent', output.maps.max[k] === output.maps.min[k]);
      });
      section.dataset.loaded = '1';
    };
    sprite.src = output.maps.png;
  } else if (output.values) {
    const units = section.querySelector('.units');
    const top = Math.max(...output.values.map(Math.abs), 1e-12);
    units.replaceChildren(...output.values.map((v, i) => {
      const unit = el('span', { class: 'unit', title: `unit ${i}: ${exact(v)}` });
      unit.style.background = grey(v / top);
      unit.style.color = textOn(unit.style.background);
      if (output.values.length <= 10) unit.textContent = String(i);
      return unit;
    }));
  }
}

// ---------------------------------------------------------------- Grad-CAM

function buildClassPicker() {
  const picker = $('cam-classes');
  for (let digit = 0; digit < 10; digit += 1) {
    const button = el('button', { type: 'button', text: String(digit), 'data-class': String(digit) });
    button.addEventListener('click', () => pickClass(digit));
    picker.append(button);
  }
  const stops = [];
  for (let i = 0; i <= 20; i += 1) stops.push(`${jet(1 - i / 20)} ${i * 5}%`);
  $('legend-bar').style.background = `linear-gradient(to bottom, ${stops.join(', ')})`;
}

async function pickClass(digit) {
  state.camClass = state.camClass === digit ? null : digit;
  document.body.dataset.settled = '0';
  await refreshCam();
  if (!state.inFlight && !state.dirty) document.body.dataset.settled = '1';
}

async function refreshCam() {
  if (!state.sent || !state.prediction) return;
  const digit = state.camClass ?? state.prediction.prediction;
  document.querySelectorAll('#cam-classes button').forEach((b) => {
    b.classList.toggle('picked', Number(b.dataset.class) === digit);
    b.classList.toggle('auto', state.camClass === null);
  });
  try {
    const cam = await api('/api/gradcam', { ...state.sent, class: digit });
    $('cam').src = cam.overlay;
    $('cam-note').textContent = `Where ${cam.name}'s maps speak for ${digit}` +
      `${state.camClass === null ? ' (the prediction; pick another class above)' : ''}: ` +
      'each channel weighted by its mean gradient, ReLU, scaled so the peak is red.';
  } catch (error) {
    toast(error.message);
  }
}

// ---------------------------------------------------------------- the microscope

async function select(selection) {
  state.selection = selection;
  state.showAllChannels = false;
  document.body.dataset.settled = '0';
  await refreshMicroscope();
  if (!state.inFlight && !state.dirty) document.body.dataset.settled = '1';
}

async function refreshMicroscope() {
  const s = state.selection;
  if (!s || !state.sent) return;
  try {
    const reading = await api('/api/microscope', { ...state.sent, ...s });
    if (state.selection !== s) return;
    showReading(reading);
    markSelection(reading);
  } catch (error) {
    toast(error.message);
  }
}

/** A small table of `height × width` cells. */
function grid(values, height, width, paint, extraClass = () => '') {
  const table = el('table', { class: 'cells' });
  for (let r = 0; r < height; r += 1) {
    const row = el('tr');
    for (let c = 0; c < width; c += 1) {
      const i = r * width + c;
      const v = values[i];
      const td = el('td', { class: `${v === null ? 'pad' : ''} ${extraClass(i)}`.trim(),
        text: v === null ? 'pad' : cell(v) });
      if (v !== null) {
        td.style.background = paint(v);
        td.style.color = textOn(td.style.background);
        td.title = exact(v);
      }
      row.append(td);
    }
    table.append(row);
  }
  return table;
}

function layerName(index) {
  return index === 0 ? 'the input' : `${state.model.layers[index - 1].name}'s output`;
}

function equationRow(label, value, id, note = '') {
  return el('tr', {},
    el('th', { text: label }),
    el('td', { id, class: 'number', text: exact(value), 'data-value': String(value) }),
    el('td', { class: 'note', text: note }));
}

function showReading(r) {
  const body = $('micro-body');
  const win = r.window;
  const rows = `rows ${win.top}–${win.top + win.height - 1}`;
  const cols = `cols ${win.left}–${win.left + win.width - 1}`;
  const heading = el('p', { class: 'where' },
    el('strong', { text: r.name }), ` · row ${r.row}, col ${r.col}, channel ${r.channel}`);
  const parts = [heading];

  if (r.kind === 'conv') {
    const count = r.channels.length;
    parts.push(el('p', { class: 'note', text:
      `The ${win.height}×${win.width} window at ${rows}, ${cols} of ${layerName(r.layer)}` +
      `${count > 1 ? `, through all ${count} channels,` : ''} times filter ${r.channel}'s weights` +
      ` (${win.padding} padding${r.channels[0].inputs.includes(null) ? ': cells marked pad are outside the input and count as 0' : ''}).` }));
    const order = r.channels.map((t, i) => i);
    if (count > 1) order.sort((a, b) => Math.abs(r.channels[b].subtotal) - Math.abs(r.channels[a].subtotal));
    const shown = state.showAllChannels ? order : order.slice(0, 4);
    const terms = el('div', { class: 'terms' });
    for (const i of shown) {
      const t = r.channels[i];
      const scaleW = Math.max(...t.weights.map(Math.abs), 1e-12);
      const scaleX = Math.max(...t.inputs.map((v) => v ?? 0), 1e-12);
      const scaleP = Math.max(...t.products.map((p) => Math.abs(p ?? 0)), 1e-12);
      const head = count > 1 ? `input channel ${t.channel}` : 'the only input channel';
      terms.append(el('div', { class: 'term' },
        el('div', { class: 'term-head' }, `${head}: the products add up to `,
          el('span', { class: 'subtotal', text: exact(t.subtotal) })),
        el('div', { class: 'term-row' },
          el('figure', {}, grid(t.inputs, win.height, win.width, (v) => grey(v / scaleX)),
            el('figcaption', { text: 'window' })),
          el('span', { class: 'op', text: '×' }),
          el('figure', {}, grid(t.weights, win.height, win.width, (v) => diverging(v, scaleW)),
            el('figcaption', { text: 'kernel' })),
          el('span', { class: 'op', text: '=' }),
          el('figure', {}, grid(t.products, win.height, win.width, (v) => diverging(v, scaleP)),
            el('figcaption', { text: 'products' })))));
    }
    parts.push(terms);
    if (count > 4) {
      const toggle = el('button', { type: 'button', class: 'link',
        text: state.showAllChannels ? `show the 4 largest only` : `show all ${count} channels (largest first)` });
      toggle.addEventListener('click', () => { state.showAllChannels = !state.showAllChannels; showReading(r); });
      parts.push(el('p', { class: 'more' }, `${shown.length} of ${count} channels shown, largest subtotals first. `, toggle));
    }
    const products = r.channels.reduce((n, t) => n + t.products.filter((p) => p !== null).length, 0);
    const activation = r.activation === 'relu' ? 'ReLU' : r.activation;
    const table = el('table', { class: 'equation' },
      equationRow(`Σ of ${products} products`, r.sum, 'micro-sum'),
      equationRow('+ bias', r.bias, 'micro-bias', `filter ${r.channel}'s`),
      equationRow('= before activation', r.pre_activation, 'micro-pre'),
      equationRow(`${activation} →`, r.output, 'micro-output',
        r.activation === 'relu' ? (r.pre_activation < 0 ? 'negative: cut to 0' : 'positive: kept') : ''),
      equationRow('in the feature map', r.value, 'micro-value', r.value === r.output ? '✓ the same value' : '✗ differs'));
    parts.push(table);
  } else {
    const winner = r.winner;
    parts.push(el('p', { class: 'note', text:
      `The ${win.height}×${win.width} window at ${rows}, ${cols} of channel ${r.channel} of ${layerName(r.layer)}` +
      ` (${win.padding} padding). ${r.pooling === 'max' ? 'The largest value wins (the first one, on a tie).' : 'Their mean.'}` }));
    parts.push(el('div', { class: 'term-row' },
      el('figure', {}, grid(r.inputs, win.height, win.width, (v) => grey(v / Math.max(...r.inputs.map((x) => x ?? 0), 1e-12)),
        (i) => (i === winner ? 'winner' : '')), el('figcaption', { text: 'window' }))));
    const table = el('table', { class: 'equation' },
      equationRow(r.pooling === 'max' ? 'max →' : 'mean →', r.output, 'micro-output',
        winner === null ? '' : `row ${win.top + Math.floor(winner / win.width)}, col ${win.left + (winner % win.width)} won`),
      equationRow('in the feature map', r.value, 'micro-value', r.value === r.output ? '✓ the same value' : '✗ differs'));
    parts.push(table);
  }
  body.replaceChildren(...parts);
  body.dataset.kind = r.kind;
}

/** Marks the selected pixel on its tile and the window it reads on the layer below. */
function markSelection(r) {
  document.querySelectorAll('.marker, .window').forEach((m) => m.remove());
  const layer = state.model.layers[r.layer];
  const [h, w] = layer.shape;
  const tile = document.querySelector(
    `section.layer[data-layer="${r.layer}"] figure.tile[data-channel="${r.channel}"] .tile-box`);
  if (tile) {
    tile.append(box('marker', r.row, r.col, 1, 1, h, w));
    tile.closest('figure').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }
  const win = r.window;
  let frames;
  let inH = SIDE;
  let inW = SIDE;
  if (r.layer === 0) {
    frames = [$('seen-box')];
  } else {
    const below = state.model.layers[r.layer - 1];
    [inH, inW] = below.shape;
    const selector = r.kind === 'conv'
      ? `section.layer[data-layer="${r.layer - 1}"] .tile-box`
      : `section.layer[data-layer="${r.layer - 1}"] figure.tile[data-channel="${r.channel}"] .tile-box`;
    frames = [...document.querySelectorAll(selector)];
  }
  for (const frame of frames) frame.append(box('window', win.top, win.left, win.height, win.width, inH, inW));
}

function box(kind, top, left, height, width, h, w) {
  const b = el('div', { class: kind });
  b.style.top = `${(100 * top) / h}%`;
  b.style.left = `${(100 * left) / w}%`;
  b.style.height = `${(100 * height) / h}%`;
  b.style.width = `${(100 * width) / w}%`;
  return b;
}

// ---------------------------------------------------------------- start

async function start() {
  clearPad();
  buildClassPicker();
  try {
    const model = await api('/api/model');
    state.model = model;
    const chain = model.layers.map((l) => `${l.name} ${l.shape.join('×')}`).join(' → ');
    $('model-line').textContent = `${chain} · ${model.params.toLocaleString('en')} weights`;
    buildLayers(model);
    if (model.test_digits > 0) {
      await loadDigit();
    } else {
      $('random').disabled = true;
      $('random').title = model.test_digits_missing || 'no test digits';
      requestPrediction();
    }
  } catch (error) {
    toast(`cannot reach the server: ${error.message}`);
  }
}

start();
