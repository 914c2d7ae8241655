// The drawing surface of chapters.canvas.DrawCanvas: an anywidget ES module, loaded as it is (no build step).
//
// Model traits (kept in step with Python):
//   strokes    list of strokes; each stroke is a list of [x, y] points in canvas pixels, (0, 0) top left
//   size       the canvas's side in pixels (square)
//   pen_width  the pen's width in pixels; Python rasterises the strokes with the same pen
//
// Pointer events serve mouse, pen and touch alike. A stroke is sent to Python once, when it ends
// (pointer up), so the kernel recomputes once per stroke, not once per mouse move.

function makeButton(label, title) {
  const button = document.createElement("button");
  button.type = "button";
  button.textContent = label;
  button.title = title;
  button.className = "jupyter-button dlfs-draw-" + label.toLowerCase();
  return button;
}

function render({ model, el }) {
  const size = model.get("size");
  const root = document.createElement("div");
  root.className = "dlfs-draw";
  root.style.cssText = "display:inline-flex;flex-direction:column;gap:4px;align-items:center;margin:4px";

  const canvas = document.createElement("canvas");
  canvas.width = size;
  canvas.height = size;
  canvas.className = "dlfs-draw-canvas";
  canvas.setAttribute("aria-label", "drawing area: draw one digit with the mouse, a pen or a finger");
  // touch-action: none keeps a finger on the canvas from scrolling the page instead of drawing.
  canvas.style.cssText = `width:${size}px;height:${size}px;border:1px solid #888;background:#fff;`
    + "touch-action:none;cursor:crosshair";

  const row = document.createElement("div");
  row.style.cssText = "display:flex;gap:6px";
  const clear = makeButton("Clear", "erase the drawing");
  const undo = makeButton("Undo", "remove the last stroke");
  row.append(clear, undo);
  root.append(canvas, row);
  el.append(root);

  const ctx = canvas.getContext("2d");
  let current = null;                       // the stroke being drawn: [[x, y], ...]

  function paintStroke(points) {
    const radius = model.get("pen_width") / 2;
    ctx.strokeStyle = "#000";
    ctx.fillStyle = "#000";
    ctx.lineWidth = 2 * radius;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    if (points.length === 1) {              // a dot: a click without a move
      ctx.arc(points[0][0], points[0][1], radius, 0, 2 * Math.PI);
      ctx.fill();
      return;
    }
    ctx.moveTo(points[0][0], points[0][1]);
    for (const [x, y] of points.slice(1)) ctx.lineTo(x, y);
    ctx.stroke();
  }

  function repaint() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, size, size);
    for (const stroke of model.get("strokes")) paintStroke(stroke);
    if (current) paintStroke(current);
  }

  function pointAt(event) {                 // canvas pixels, clamped to the canvas, 0.1 px resolution
    const box = canvas.getBoundingClientRect();
    const clamp = (v) => Math.min(Math.max(v, 0), size);
    const x = clamp((event.clientX - box.left) * size / box.width);
    const y = clamp((event.clientY - box.top) * size / box.height);
    return [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
  }

  function onDown(event) {
    if (event.pointerType === "mouse" && event.button !== 0) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId);
    current = [pointAt(event)];
    repaint();
  }

  function onMove(event) {
    if (!current) return;
    event.preventDefault();
    const point = pointAt(event);
    const last = current[current.length - 1];
    if (Math.hypot(point[0] - last[0], point[1] - last[1]) < 1) return;   // skip sub-pixel jitter
    current.push(point);
    paintStroke([last, point]);
  }

  function onUp() {
    if (!current) return;
    const stroke = current;
    current = null;
    model.set("strokes", [...model.get("strokes"), stroke]);
    model.save_changes();
  }

  function send(strokes) {
    current = null;
    model.set("strokes", strokes);
    model.save_changes();
  }

  const onClear = () => send([]);
  const onUndo = () => send(model.get("strokes").slice(0, -1));

  canvas.addEventListener("pointerdown", onDown);
  canvas.addEventListener("pointermove", onMove);
  canvas.addEventListener("pointerup", onUp);
  canvas.addEventListener("pointercancel", onUp);
  clear.addEventListener("click", onClear);
  undo.addEventListener("click", onUndo);
  model.on("change:strokes", repaint);
  repaint();

  return () => model.off("change:strokes", repaint);
}

export default { render };
