// Opens every chapter of the built book in headless Chromium, with the network cut off, and
// fails if a reader would see something broken. Run it through scripts/check-book, which
// checks that what it needs is installed.
//
//   node scripts/check-book.mjs [book-dir] [screenshot-dir]
//
// Each chapter listed in chapters/SUMMARY.md is loaded from disk (file://); every request
// that is not for a file is aborted, so the book must bring everything it shows. A chapter
// fails if
//   - its visible text (leaving out <pre> and <code>) still holds a TeX delimiter \( \) \[ \]
//     or $$, or a TeX command such as \cdot: a formula that was not rendered;
//   - KaTeX reported an error in a formula, a formula breaks its line at a \\ (Markdown's
//     escaping, \\, for \, , which formulas rendered at build time no longer need), a display
//     formula is wider than the text column (it is cut off), or KaTeX's stylesheet or fonts
//     did not load;
//   - an <img> did not load, or any file the page asks for is missing;
//   - a link inside the book points to a file that does not exist, or to an #anchor that the
//     target page does not have;
//   - the page asked for anything from the network.
// A full-page screenshot of every chapter goes to the screenshot directory.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import puppeteer from 'puppeteer-core';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bookDir = path.resolve(process.argv[2] ?? path.join(repoRoot, 'book'));
const shotDir = path.resolve(process.argv[3] ?? path.join(repoRoot, 'target', 'book-screenshots'));
const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';

// The chapters, in reading order, from the SUMMARY.md next to book.toml's `src`.
function chapterPages() {
    const summary = fs.readFileSync(path.join(repoRoot, 'chapters', 'SUMMARY.md'), 'utf8');
    const pages = [];
    for (const m of summary.matchAll(/\]\(([^)#\s]+)\.md\)/g)) {
        pages.push(`${m[1]}.html`);
    }
    return pages;
}

// The ids a page's HTML declares, read from the file (for link targets that are not chapters).
function idsInFile(file) {
    const html = fs.readFileSync(file, 'utf8');
    const ids = new Set();
    for (const m of html.matchAll(/\s(?:id|name)\s*=\s*"([^"]*)"/g)) ids.add(m[1]);
    return ids;
}

// Everything the check needs from one loaded page, computed inside the browser.
function inspectPage() {
    // Visible text without code: hide <pre> and <code> for a moment and read innerText,
    // which leaves out what is not displayed.
    const hide = document.createElement('style');
    hide.textContent = 'pre, code { display: none !important; }';
    document.head.appendChild(hide);
    const text = document.body.innerText;
    hide.remove();
    // A formula left raw, \( … \), \[ … \] or $$ … $$, or a delimiter on its own.
    const raw = /\\\([\s\S]{0,300}?\\\)|\\\[[\s\S]{0,600}?\\\]|\$\$[\s\S]{0,600}?\$\$|\\[()[\]]|\$\$/g;
    const rawTex = [...text.matchAll(raw)].map((m) => m[0].replace(/\s+/g, ' '));
    // A formula whose delimiters Markdown ate (a single \( is an escaped parenthesis) shows
    // its TeX commands in plain text: \cdot, \text{...}. Prose has no backslash before a word.
    // Commands less than 40 characters apart are one formula, reported once.
    const rest = text.replace(raw, ' ');
    const runs = [];
    for (const m of rest.matchAll(/\\[A-Za-z]+/g)) {
        const last = runs[runs.length - 1];
        if (last && m.index - last.end < 40) last.end = m.index + m[0].length;
        else runs.push({ start: m.index, end: m.index + m[0].length });
    }
    for (const { start, end } of runs) {
        const context = rest.slice(Math.max(0, start - 30), Math.min(end + 30, start + 120)).replace(/\s+/g, ' ');
        rawTex.push(`"…${context}…"`);
    }

    const images = [...document.images].map((img) => ({
        src: img.getAttribute('src'),
        ok: img.complete && img.naturalWidth > 0,
    }));

    const links = [...document.querySelectorAll('a[href]')].map((a) => ({
        href: a.getAttribute('href'),
        resolved: a.href,
    }));

    const ids = [...document.querySelectorAll('[id], a[name]')].map((e) => e.id || e.getAttribute('name'));

    const formulas = document.querySelectorAll('.katex');
    const katexErrors = [...document.querySelectorAll('.katex-error')].map(
        (e) => `${e.textContent.trim().slice(0, 80)} (${e.getAttribute('title') ?? 'no message'})`,
    );
    // No formula of this book breaks its line. KaTeX reads \\ as a line break, so one there is
    // a leftover of the Markdown escaping the formulas needed before they were rendered at
    // build time (\\, for a thin space \, , or \\\\ for \\).
    const broken = new Set([...document.querySelectorAll('.katex .newline')].map((br) => br.closest('.katex')));
    const lineBreaks = [...broken].map((f) => f.textContent.replace(/[\s\u200b]+/g, ' ').trim().slice(0, 80));
    // A display formula wider than the text column runs off the page, cut off: stack it.
    const tooWide = [...document.querySelectorAll('.katex-display')]
        .filter((d) => d.scrollWidth > d.clientWidth + 1)
        .map((d) => {
            let h = d;
            while (h && !/^H[1-6]$/.test(h.tagName)) h = h.previousElementSibling ?? h.parentElement;
            const under = h ? ` under "${h.textContent.trim()}"` : '';
            const start = d.textContent.replace(/[\s\u200b]+/g, ' ').trim().slice(0, 40);
            return `${d.scrollWidth} px in a ${d.clientWidth} px column${under}, starting "${start}"`;
        });
    let katexCss = null;
    if (formulas.length > 0) {
        // katex.min.css sets the formulas' font and hides the MathML copy of each formula.
        const family = getComputedStyle(formulas[0]).fontFamily;
        const mathml = formulas[0].querySelector('.katex-mathml');
        katexCss = family.includes('KaTeX_Main') && (!mathml || getComputedStyle(mathml).position === 'absolute');
    }
    const katexFonts = [...document.fonts]
        .filter((f) => f.family.replace(/["']/g, '').startsWith('KaTeX_'))
        .map((f) => ({ family: f.family.replace(/["']/g, ''), weight: f.weight, style: f.style, status: f.status }));

    return { rawTex, images, links, ids, formulas: formulas.length, katexErrors, lineBreaks, tooWide, katexCss, katexFonts };
}

async function main() {
    const pages = chapterPages();
    if (pages.length === 0) throw new Error('no chapters found in chapters/SUMMARY.md');
    fs.mkdirSync(shotDir, { recursive: true });

    const problems = [];
    const problem = (page, what) => problems.push(`${page}: ${what}`);
    const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'check-book-chromium-'));
    const browser = await puppeteer.launch({
        executablePath: chromium,
        headless: true,
        userDataDir,
        args: [
            '--no-sandbox',
            '--disable-gpu',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--disable-quic',
        ],
    });

    const visited = new Map(); // absolute file path -> Set of ids in the loaded page
    const allLinks = []; // { page, href, resolved }
    let formulaCount = 0;
    let imageCount = 0;
    try {
        for (const name of pages) {
            const file = path.join(bookDir, name);
            if (!fs.existsSync(file)) {
                problem(name, `the book has no ${name} (is the book built? run mdbook build)`);
                continue;
            }
            const page = await browser.newPage();
            await page.setViewport({ width: 1280, height: 900 });
            await page.setRequestInterception(true);
            page.on('request', (req) => {
                const url = req.url();
                if (url.startsWith('file:') || url.startsWith('data:') || url.startsWith('blob:') || url === 'about:blank') {
                    req.continue();
                } else {
                    problem(name, `asks for ${url} from the network (blocked: the book must work offline)`);
                    req.abort('blockedbyclient');
                }
            });
            page.on('requestfailed', (req) => {
                const url = req.url();
                if (!url.startsWith('file:')) return; // network requests were reported above
                const rel = path.relative(bookDir, fileURLToPath(url));
                problem(name, `could not load ${rel} (${req.failure()?.errorText ?? 'failed'})`);
            });
            page.on('pageerror', (err) => problem(name, `script error: ${err.message.split('\n')[0]}`));

            await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
            // Wait for every font the page uses and every image, then look.
            await page.evaluate(async () => {
                await document.fonts.ready;
                await Promise.all(
                    [...document.images].map((img) =>
                        img.complete ? null : new Promise((done) => { img.onload = img.onerror = done; }),
                    ),
                );
            });
            const info = await page.evaluate(inspectPage);

            for (const tex of info.rawTex) {
                problem(name, `raw TeX in the text (not rendered): ${tex.length > 100 ? tex.slice(0, 97) + '...' : tex}`);
            }
            for (const e of info.katexErrors) problem(name, `KaTeX could not render a formula: ${e}`);
            for (const f of info.lineBreaks) {
                problem(name, `a formula breaks its line at a \\\\ (write \\, for a thin space, \\\\ not \\\\\\\\): ${f}`);
            }
            for (const f of info.tooWide) problem(name, `a display formula is wider than the text column: ${f}`);
            if (info.katexCss === false) {
                problem(name, "KaTeX's stylesheet is not applied to the formulas (katex.min.css missing or not linked)");
            }
            if (info.formulas > 0) {
                const fonts = info.katexFonts;
                const failed = fonts.filter((f) => f.status === 'error');
                for (const f of failed) problem(name, `KaTeX font ${f.family} ${f.weight} ${f.style} failed to load`);
                if (!fonts.some((f) => f.family === 'KaTeX_Main' && f.status === 'loaded')) {
                    problem(name, 'the KaTeX_Main font did not load: the formulas are drawn in a fallback font');
                }
            }
            for (const img of info.images) {
                if (!img.ok) problem(name, `image ${img.src} did not load`);
            }
            formulaCount += info.formulas;
            imageCount += info.images.length;
            visited.set(file, new Set(info.ids));
            for (const l of info.links) allLinks.push({ page: name, ...l });

            await page.screenshot({ path: path.join(shotDir, name.replace(/\.html$/, '.png')), fullPage: true });
            await page.close();
        }
    } finally {
        await browser.close();
        fs.rmSync(userDataDir, { recursive: true, force: true });
    }

    // Links inside the book: the target file must exist, and so must the #id in it.
    let linkCount = 0;
    const fileIds = new Map();
    for (const { page, href, resolved } of allLinks) {
        if (href === '' || href === '#' || !resolved.startsWith('file:')) continue; // external or empty
        linkCount += 1;
        const url = new URL(resolved);
        let target = fileURLToPath(url);
        if (url.pathname.endsWith('/')) target = path.join(target, 'index.html');
        const rel = path.relative(bookDir, target);
        if (rel.startsWith('..')) {
            problem(page, `link ${href} leaves the book (${target})`);
            continue;
        }
        if (!fs.existsSync(target)) {
            problem(page, `link ${href}: ${rel} does not exist`);
            continue;
        }
        const id = decodeURIComponent(url.hash.slice(1));
        if (id === '') continue;
        let ids = visited.get(target);
        if (!ids) {
            if (!fileIds.has(target)) fileIds.set(target, idsInFile(target));
            ids = fileIds.get(target);
        }
        if (!ids.has(id)) problem(page, `link ${href}: ${rel} has no element with id "${id}"`);
    }

    const summary = `${pages.length} chapters, ${formulaCount} formulas, ${imageCount} images, ${linkCount} links inside the book`;
    if (problems.length > 0) {
        console.error(`check-book: ${problems.length} problem(s) in the built book (${bookDir}):`);
        for (const p of problems) console.error(`  ${p}`);
        console.error(`checked ${summary}; screenshots in ${shotDir}`);
        process.exit(1);
    }
    console.log(`check-book: OK: ${summary}; no raw TeX, KaTeX's CSS and fonts loaded, nothing from the network.`);
    console.log(`Screenshots in ${shotDir}`);
}

main().catch((err) => {
    console.error(`check-book: ${err.stack ?? err}`);
    process.exit(2);
});
