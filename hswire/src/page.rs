//! The live page `hswire serve` answers plain HTTP GETs with, on its
//! WebSocket address: the files of `src/page/`, embedded in the binary.
//!
//! The page (`index.html`, `app.js`, `style.css`, `favicon.svg`) loads the
//! JavaScript binding's modules from the same server; those are the
//! checked-in files of `bindings/typescript/`, which `src/page/` links to.
//! Nothing is built: what the repository holds is what a browser gets.

use haystack_wire::connection::Pages;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// The page, its stylesheet, its icon and every module it imports.
pub fn pages() -> Pages {
    let index = include_bytes!("page/index.html");
    Pages::new()
        .page("/", HTML, index)
        .page("/index.html", HTML, index)
        .page("/app.js", JS, include_bytes!("page/app.js"))
        .page("/style.css", CSS, include_bytes!("page/style.css"))
        .page("/favicon.svg", SVG, include_bytes!("page/favicon.svg"))
        .page("/socket.js", JS, include_bytes!("page/socket.js"))
        .page("/assembler.js", JS, include_bytes!("page/assembler.js"))
        .page("/frame.js", JS, include_bytes!("page/frame.js"))
        .page("/errors.js", JS, include_bytes!("page/errors.js"))
        .page("/haystack_wire.js", JS, include_bytes!("page/haystack_wire.js"))
}
