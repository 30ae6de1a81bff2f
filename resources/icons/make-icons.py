#!/usr/bin/env python3
"""Draws Natter's icon from one geometry: writes the SVG master and the PNG sizes.

Run from anywhere: python3 resources/icons/make-icons.py  (needs Pillow: pip install pillow).
The shapes are on a 256-unit canvas: a rounded square, two speech bubbles facing each other
(two peers), joined by a dot (the direct link).
"""
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
SIZES = [16, 24, 32, 48, 64, 128, 256, 512]
BG, BG2 = "#1f4e8c", "#2f7fd1"
LEFT, RIGHT, DOT = "#ffffff", "#9fe3d4", "#ffd166"

# (kind, params) on the 256 canvas
SHAPES = [
    ("rrect", (8, 8, 248, 248, 56), BG),
    ("rrect", (8, 8, 248, 128, 56), BG2),
    ("rrect", (36, 56, 156, 136, 36), LEFT),
    ("poly", [(58, 128), (52, 164), (92, 132)], LEFT),
    ("rrect", (100, 120, 220, 200, 36), RIGHT),
    ("poly", [(198, 192), (204, 228), (164, 196)], RIGHT),
    ("circle", (128, 128, 14), DOT),
]


def svg() -> str:
    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">']
    for kind, p, colour in SHAPES:
        if kind == "rrect":
            x0, y0, x1, y1, r = p
            out.append(f'  <rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" rx="{r}" fill="{colour}"/>')
        elif kind == "poly":
            pts = " ".join(f"{x},{y}" for x, y in p)
            out.append(f'  <polygon points="{pts}" fill="{colour}"/>')
        else:
            cx, cy, r = p
            out.append(f'  <circle cx="{cx}" cy="{cy}" r="{r}" fill="{colour}"/>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def png(size: int) -> Image.Image:
    scale = 4 * size / 256  # draw 4x and shrink: smooth edges
    big = Image.new("RGBA", (4 * size, 4 * size), (0, 0, 0, 0))
    d = ImageDraw.Draw(big)
    for kind, p, colour in SHAPES:
        if kind == "rrect":
            x0, y0, x1, y1, r = (v * scale for v in p)
            d.rounded_rectangle((x0, y0, x1, y1), radius=r, fill=colour)
        elif kind == "poly":
            d.polygon([(x * scale, y * scale) for x, y in p], fill=colour)
        else:
            cx, cy, r = (v * scale for v in p)
            d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    return big.resize((size, size), Image.LANCZOS)


if __name__ == "__main__":
    (HERE / "natter.svg").write_text(svg())
    for s in SIZES:
        png(s).save(HERE / f"natter-{s}.png", optimize=True)
    # Windows: one .ico with the usual sizes (the MSI recipe and the exe use it).
    png(256).save(HERE / "natter.ico", sizes=[(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (256, 256)])
    print("wrote", HERE / "natter.svg", ",", len(SIZES), "PNGs and natter.ico")
