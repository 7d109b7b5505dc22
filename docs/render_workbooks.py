"""Render the workbooks cld_polars writes to PNG, one picture per sheet, to look at them.

Why: a workbook can pass every test and still look unfinished (text cut off by the next
column, ######, a chart plotting the wrong rows); the only way to know is to look. This
builds the workbooks from generated returns, converts them with LibreOffice (each sheet one
PDF page) and renders the pages with poppler:

    apt-get install -y libreoffice-calc poppler-utils fonts-crosextra-carlito
    python docs/render_workbooks.py --out /tmp/render            # every sheet, in tiles
    python docs/render_workbooks.py --large 50000 --out /tmp/render   # and a 50,000-row one
    python docs/render_workbooks.py --docs                        # the README's pictures

Carlito has the metrics of Calibri (the workbooks' font), so the pictures wrap where Excel
would. The workbooks are: ``sample`` (``cld-validate --sample --xlsx``), ``large`` (a
generated return with the sample's faults repeated, with ``--large ROWS``), ``central``
(``cld-validate central --xlsx`` on a return whose stated period DHSC would not take, with
rows it drops and merges), ``compare`` (two generated quarters with planted differences) and
``national`` (``cld-validate DIR --out-dir`` over a few generated councils, one with faults
and one unreadable file). ``--docs`` writes the
top of each sample sheet, and of the central, one compare and one national sheet, to
``docs/images/``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
DOCS_IMAGES = ROOT / "docs" / "images"
#: One page per sheet, the whole sheet on it (LibreOffice 6.4 and later).
PDF_FILTER = 'pdf:calc_pdf_Export:{"SinglePageSheets":{"type":"boolean","value":"true"}}'
#: Sheets pictured in the README besides the sample's (workbook, sheet, height in pixels,
#: rows of the sheet kept: enough for every table and chart in the picture).
DOC_EXTRAS = (
    ("central", "Central view", 1040, 100),
    ("compare", "Counts by event type", 420, 40),
    ("national", "% valid by field", 420, 40),
)


def run(*args: str, cwd: Path | None = None, ok: tuple[int, ...] = (0,)) -> None:
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if done.returncode not in ok:
        raise SystemExit(f"{' '.join(args)} exited {done.returncode}:\n{done.stderr}")


def cli(*args: str, cwd: Path, ok: tuple[int, ...] = (0, 1)) -> None:
    """``cld-validate`` from this checkout, whatever is installed."""
    run(
        sys.executable,
        "-c",
        "import sys; from cld_polars.cli import main; sys.exit(main(sys.argv[1:]))",
        *args,
        cwd=cwd,
        ok=ok,
    )


def faulty_return(rows: int, seed: int, la_code: str = "503") -> pl.DataFrame:
    """A generated return with the sample's faults repeated every 97 rows, some long free
    text, and a value holding characters an Excel file cannot hold."""
    from cld_polars.generate import generate_return
    from cld_polars.sample import FAULTS

    frame = generate_return(rows, seed=seed, la_code=la_code).with_row_index("__i")
    for position, field, value in FAULTS:
        frame = frame.with_columns(
            pl.when(pl.col("__i") % 97 == position)
            .then(pl.lit(value))
            .otherwise(pl.col(field))
            .alias(field)
        )
    long_text = "Client reports " + "a long description of needs and circumstances " * 12
    frame = frame.with_columns(
        pl.when(pl.col("__i") == 200)
        .then(pl.lit(long_text))
        .otherwise(pl.col("Event Description"))
        .alias("Event Description"),
        pl.when(pl.col("__i") == 201)
        .then(pl.lit("Fe\uffffmale"))
        .otherwise(pl.col("Gender"))
        .alias("Gender"),
    )
    return frame.drop("__i")


def build(work: Path, large: int | None) -> dict[str, Path]:
    """The workbooks to render, by name."""
    from cld_polars.generate import generate_pair, write_return
    from cld_polars.sample import misread_return

    books: dict[str, Path] = {}
    cli("--sample", "--xlsx", "sample_report.xlsx", "--quiet", cwd=work)
    books["sample"] = work / "sample_report.xlsx"
    if large:
        faulty_return(large, seed=11).write_csv(work / "large_return.csv")
        cli("large_return.csv", "--xlsx", "large_report.xlsx", "--quiet", cwd=work)
        books["large"] = work / "large_report.xlsx"
    misread_return().write_csv(work / "central_return.csv")
    cli("central", "central_return.csv", "--xlsx", "central.xlsx", "--quiet", cwd=work, ok=(0,))
    books["central"] = work / "central.xlsx"
    previous, current, _ = generate_pair(3000, seed=7)
    previous.write_csv(work / "2025Q2.csv")
    current.write_csv(work / "2025Q3.csv")
    cli("compare", "2025Q2.csv", "2025Q3.csv", "--xlsx", "compare.xlsx", "--quiet", cwd=work)
    books["compare"] = work / "compare.xlsx"
    returns = work / "returns"
    returns.mkdir(exist_ok=True)  # a --work folder of an earlier run is written over
    write_return(returns / "lincolnshire_2025q3.csv", 3000, seed=1, la_code="503")
    write_return(returns / "surrey_2025q3.csv", 2500, seed=2, la_code="805")
    write_return(returns / "leeds_2025q3.csv", 2000, seed=3, la_code="212")
    faulty_return(1500, seed=4, la_code="943").write_csv(returns / "westmorland_2025q3.csv")
    (returns / "cumberland_2025q3.csv.gz").write_bytes(b"\x00\x01 not a return")
    cli("returns", "--out-dir", "reports", "--quiet", cwd=work, ok=(0, 1, 2))
    books["national"] = work / "reports" / "national.xlsx"
    return books


def sheet_names(workbook: Path) -> list[str]:
    with zipfile.ZipFile(workbook) as z:
        xml = z.read("xl/workbook.xml").decode("utf-8")
    names = re.findall(r'<sheet [^>]*name="([^"]*)"', xml)
    return [n.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">") for n in names]


#: Sheets up to this many rows are rendered whole; longer ones (a list of findings) are cut.
WHOLE_SHEET_ROWS = 1500


def trimmed(workbook: Path, rows: int, out: Path) -> Path:
    """A copy with each sheet longer than ``WHOLE_SHEET_ROWS`` rows (and, for ``rows`` under
    that, every sheet) cut after ``rows`` rows, so a sheet of 100,000 findings renders as its
    first pages (its look is the same all the way down)."""
    with zipfile.ZipFile(workbook) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.startswith("xl/worksheets/sheet"):
                xml = data.decode("utf-8")
                long = f'<row r="{WHOLE_SHEET_ROWS + 1}"' in xml
                cut = xml.find(f'<row r="{rows + 1}"')
                if cut != -1 and (long or rows < 100):
                    xml = xml[:cut] + xml[xml.index("</sheetData>") :]
                data = xml.encode("utf-8")
            z.writestr(info, data)
    return out


def page_sizes(pdf: Path) -> list[tuple[float, float]]:
    info = subprocess.run(
        ["pdfinfo", "-f", "1", "-l", "999", str(pdf)], capture_output=True, text=True
    ).stdout
    return [
        (float(w), float(h))
        for w, h in re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+) pts", info)
    ]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def render(
    name: str,
    workbook: Path,
    out: Path,
    *,
    dpi: int,
    tile: int | None,
    max_height: int | None,
    rows: int,
    only: str | None = None,
    max_width: int | None = None,
) -> list[Path]:
    """PNGs of ``workbook``'s sheets: each whole in tiles ``tile`` pixels high, or its top
    ``max_height`` pixels. Returns the files written."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = trimmed(workbook, rows, Path(tmp) / f"{name}.xlsx")
        profile = f"-env:UserInstallation=file://{tmp}/profile"  # no clash with a running one
        run(
            "soffice", profile, "--headless", "--convert-to", PDF_FILTER, "--outdir", tmp, str(copy)
        )
        pdf = Path(tmp) / f"{name}.pdf"
        sizes = page_sizes(pdf)
        sheets = sheet_names(workbook)
        if len(sizes) != len(sheets):
            raise SystemExit(f"{workbook}: {len(sheets)} sheets but {len(sizes)} PDF pages")
        written: list[Path] = []
        for page, (sheet, (width, height)) in enumerate(zip(sheets, sizes, strict=True), 1):
            if only is not None and sheet != only:
                continue
            w, h = round(width * dpi / 72), round(height * dpi / 72)
            w = min(w, max_width or w)
            stem = f"{name}-{page}-{slug(sheet)}"
            if max_height is not None or tile is None:
                spans = [(0, min(h, max_height or h), stem)]
            else:
                spans = [
                    (y, min(tile, h - y), f"{stem}-{y // tile + 1}") for y in range(0, h, tile)
                ]
            for y, height_px, file_stem in spans:
                target = out / file_stem
                run(
                    "pdftoppm",
                    "-png",
                    "-singlefile",
                    "-r",
                    str(dpi),
                    "-f",
                    str(page),
                    "-l",
                    str(page),
                    "-x",
                    "0",
                    "-y",
                    str(y),
                    "-W",
                    str(w),
                    "-H",
                    str(height_px),
                    str(pdf),
                    str(target),
                )
                written.append(target.with_suffix(".png"))
        return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="where the PNGs go (inspection mode)")
    parser.add_argument("--docs", action="store_true", help="write the README's pictures")
    parser.add_argument("--large", type=int, metavar="ROWS", help="also a ROWS-row return")
    parser.add_argument("--dpi", type=int, default=80, help="resolution (default 80)")
    parser.add_argument("--tile", type=int, default=1400, help="tile height in pixels")
    parser.add_argument(
        "--rows", type=int, default=200, help="rows rendered of a sheet too long to render whole"
    )
    parser.add_argument("--work", type=Path, help="keep the workbooks here (default: a temp dir)")
    args = parser.parse_args(argv)
    if not args.docs and args.out is None:
        parser.error("give --out DIR, --docs, or both")
    for tool in ("soffice", "pdftoppm", "pdfinfo"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not found: apt-get install -y libreoffice-calc poppler-utils")
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        books = build(work, args.large)
        if args.out is not None:
            args.out.mkdir(parents=True, exist_ok=True)
            for name, path in books.items():
                for png in render(
                    name,
                    path,
                    args.out,
                    dpi=args.dpi,
                    tile=args.tile,
                    max_height=None,
                    rows=args.rows,
                ):
                    print(png)
        if args.docs:
            DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
            for old in DOCS_IMAGES.glob("*.png"):
                old.unlink()
            pictures = render(
                "sample",
                books["sample"],
                DOCS_IMAGES,
                dpi=60,
                tile=None,
                max_height=620,
                max_width=1100,
                rows=60,
            )
            for name, sheet, height, rows in DOC_EXTRAS:
                pictures += render(
                    name,
                    books[name],
                    DOCS_IMAGES,
                    dpi=60,
                    tile=None,
                    max_height=height,
                    max_width=1100,
                    rows=rows,
                    only=sheet,
                )
            for png in pictures:
                print(png.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
