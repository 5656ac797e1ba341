"""The README's screenshots of the web workbench, made again from clean demo data (docs/img/*.png):

1. ``check-registered-work.png`` (English): a publisher registers chapter 4 of *Persuasion* (the demo corpus,
   public domain) with its reservations; an examiner checks seminar notes that copy one of its paragraphs: the
   copied paragraph marked in the text, the work, its owner and reservations beside it.
2. ``trace-corpus-zh.png`` (简体中文): a reading note that copies the opening of 学而篇 (the Analects, in the demo
   corpus) traced in the demo corpus, with similar's ranking and the evidence by meaning loaded after.

    python scripts/screenshots.py            # writes docs/img/; needs ipscope[service,embed], playwright, Chromium

It indexes demo/corpus into a temporary folder, starts ``ipscope serve`` there on a free loopback port, drives
Debian's Chromium with Playwright (scripts/browser.sh finds or installs it, as for the browser tests) and stops the
server at the end. The texts around the copied passages are written for this script."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo" / "corpus"
ENV = dict(os.environ, PYTHONPATH=str(REPO / "src"))
VIEW = {"width": 1200, "height": 760}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium() -> str:
    r = subprocess.run([str(REPO / "scripts" / "browser.sh"), "path"], capture_output=True, text=True)
    if r.returncode != 0:
        r = subprocess.run([str(REPO / "scripts" / "browser.sh"), "install"], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(r.stderr.strip())
    return r.stdout.strip().splitlines()[-1]


def serve(tmp: Path) -> tuple[subprocess.Popen, str]:
    idx = tmp / "demo.idx"
    subprocess.run([sys.executable, "-m", "ipscope", "index", str(DEMO), "--out", str(idx), "--jobs", "1"],
                   env=ENV, check=True, capture_output=True)
    port = free_port()
    log = open(tmp / "serve.log", "wb")
    p = subprocess.Popen([sys.executable, "-m", "ipscope", "serve", "--data", str(tmp / "data"), "--port", str(port),
                          "--corpus", f"demo={idx}", "--rate-limit", "0", "--signup-limit", "0", "--log-level",
                          "warning"], env=ENV, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    import httpx

    for _ in range(600):
        if p.poll() is not None:
            sys.exit("ipscope serve exited: " + (tmp / "serve.log").read_text()[-2000:])
        try:
            if httpx.get(url + "/v1", timeout=1).status_code == 200:
                return p, url
        except httpx.HTTPError:
            time.sleep(0.2)
    p.terminate()
    sys.exit("ipscope serve did not start")


def go(page, target) -> None:
    with page.expect_navigation():
        target.click()


def sign_up(page, url: str, name: str) -> None:
    page.goto(url + "/register")
    page.fill("#name", name)
    go(page, page.locator("form[action='/signup'] button"))


def persuasion_chapter_4() -> tuple[str, str]:
    """Chapter 4 of Persuasion (from its heading to chapter 5's) and the paragraph the notes copy."""
    book = (DEMO / "books" / "105.txt").read_text(encoding="utf-8")
    a = book.index("Chapter 4")
    b = book.index("Chapter 5", a)
    chapter = book[a:b].strip()
    paras = [p for p in chapter.split("\n\n") if len(p) > 600]
    return chapter, " ".join(paras[1].split())


def analects_opening() -> str:
    with (DEMO / "chinese-classics.jsonl").open(encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if r["title"] == "学而篇":
                return "\n".join(r["text"].splitlines()[:4])  # its first four sayings
    raise SystemExit("学而篇 is not in the demo corpus")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ipscope-shots.") as d:
        proc, url = serve(Path(d))
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"])
                # 1. English: a registered work found in a checked text
                ctx = browser.new_context(viewport=VIEW, locale="en-GB",
                                          extra_http_headers={"Accept-Language": "en-GB,en;q=0.9"})
                page = ctx.new_page()
                chapter, copied = persuasion_chapter_4()
                sign_up(page, url, "Uppercross Press")
                page.fill("#title", "Persuasion, chapter 4")
                page.fill("#text", chapter)
                page.select_option("#res-train-ai", "n")
                page.select_option("#res-search", "y")
                go(page, page.locator("form.work button[type=submit]"))
                go(page, page.locator("form.inline button"))  # sign out: the examiner is someone else
                sign_up(page, url, "Examiner 12")
                notes = ("Seminar notes, week 6. The chapter looks back on the broken engagement, and the narrator "
                         "sums up eight years in one paragraph:\n\n" + copied + "\n\nWe discussed whether the regret "
                         "is Anne's alone or the narrator's as well.")
                for _ in range(40):  # the indexer publishes the new work within a second or so
                    page.goto(url + "/check")
                    page.fill("#text", notes)
                    go(page, page.locator("form[action='/check'] button[value=html]"))
                    if page.locator("article.match").count():
                        break
                    time.sleep(0.25)
                page.wait_for_selector("#semantic")
                page.screenshot(path=str(args.out / "check-registered-work.png"))
                ctx.close()
                # 2. 简体中文: a text traced in the demo corpus, the evidence by meaning loaded after
                ctx = browser.new_context(viewport=VIEW, locale="zh-CN",
                                          extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9"})
                page = ctx.new_page()
                sign_up(page, url, "审查员 7")
                page.goto(url + "/check")
                page.fill("#text", "一名学生的读书笔记：开篇三句讲求学与交友之乐，原文如下。" + analects_opening()
                          + "笔记最后写道：这几句话至今仍可作为座右铭。")
                page.select_option("#where", "corpus:demo")
                go(page, page.locator("form[action='/check'] button[value=html]"))
                page.wait_for_selector("#semantic")
                page.screenshot(path=str(args.out / "trace-corpus-zh.png"))
                ctx.close()
                browser.close()
        finally:
            proc.terminate()
            proc.wait(30)
    for p in sorted(args.out.glob("*.png")):
        print(f"{p.relative_to(REPO)}: {p.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
