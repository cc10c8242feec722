// The page's few icons: small stroked SVGs, hidden from assistive technology (each button
// that shows one has its own name).

const SVG = "http://www.w3.org/2000/svg";
const PATHS = {
  copy: "M9 9h10v11H9zM5 15V4h10",
  regenerate: "M20 11a8 8 0 1 0-2.3 5.7M20 4v7h-7",
  up: "M7 11v9H4v-9zM7 11l4-8c1.4 0 2.4 1.1 2.2 2.5L12.6 10H19a2 2 0 0 1 2 2.3l-1.2 6A2 2 0 0 1 17.8 20H7",
  down: "M17 13V4h3v9zM17 13l-4 8c-1.4 0-2.4-1.1-2.2-2.5l.6-4.5H5a2 2 0 0 1-2-2.3l1.2-6A2 2 0 0 1 6.2 4H17",
  rename: "M4 20h4L19 9l-4-4L4 16zM13 7l4 4",
  delete: "M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3",
  external: "M14 4h6v6M20 4l-9 9M18 14v5a1 1 0 0 1-1 1H5a1 1 0 0 1-1-1V7a1 1 0 0 1 1-1h5",
};

export function icon(name) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", "icon");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", PATHS[name]);
  svg.append(path);
  return svg;
}
