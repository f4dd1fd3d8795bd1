/// The page frame every page extends (`{{<layout}}`): header with navigation and sign-in state,
/// a skip link, and the stylesheet and script served from `/ui/static/` (nothing external).
enum LayoutTemplate {
    static let layout = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} · Berth</title>
        <link rel="icon" href="data:,">
        <link rel="stylesheet" href="/ui/static/berth.css">
        </head>
        <body>
        <a class="skip" href="#main">Skip to content</a>
        <header>
        <nav aria-label="Main">
        <a class="brand" href="/ui/">Berth</a>
        <a href="/ui/">Repositories</a>
        {{#nav.mayAdminister}}<a href="/ui/admin">Storage</a>{{/nav.mayAdminister}}
        <span class="who">
        {{#nav.user}}<span>Signed in as <strong id="user">{{.}}</strong></span>
        <form method="post" action="/ui/logout" class="inline"><input type="hidden" name="csrf" value="{{nav.csrfToken}}"><button type="submit">Sign out</button></form>{{/nav.user}}
        {{^nav.user}}{{#nav.canSignIn}}<a href="/ui/login">Sign in</a>{{/nav.canSignIn}}{{/nav.user}}
        </span>
        </nav>
        </header>
        <main id="main">
        {{$body}}{{/body}}
        </main>
        <footer>Berth container registry · <a href="/ui/api/repositories">JSON API</a></footer>
        <script src="/ui/static/copy.js"></script>
        </body>
        </html>
        """

    static let pager = """
        {{#pager.several}}<nav class="pager" aria-label="Pages">
        {{#pager.previous}}<a rel="prev" href="{{.}}">← Previous</a>{{/pager.previous}}
        <span>Page {{pager.page}} of {{pager.pages}}</span>
        {{#pager.next}}<a rel="next" href="{{.}}">Next →</a>{{/pager.next}}
        </nav>{{/pager.several}}
        """

    /// Copies the text of a copy button's target; without JavaScript the command stays selectable.
    static let script = """
        "use strict";
        document.addEventListener("click", function (event) {
          var button = event.target.closest("button[data-copy]");
          if (!button) return;
          var text = button.getAttribute("data-copy");
          var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
          if (navigator.clipboard && window.isSecureContext) {
            navigator.clipboard.writeText(text).then(done, function () { button.textContent = "Select and copy"; });
          } else {
            var field = document.getElementById(button.getAttribute("aria-controls"));
            if (field) { field.select(); try { document.execCommand("copy"); done(); } catch (e) {} }
          }
        });
        """

    static let stylesheet = """
        :root { color-scheme: light dark; --fg: #1b1f24; --muted: #57606a; --bg: #fff; --line: #d0d7de; --accent: #0a58ca; --danger: #b42318; --soft: #f6f8fa; }
        @media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --muted: #9da7b3; --bg: #0d1117; --line: #30363d; --accent: #58a6ff; --danger: #ff7b72; --soft: #161b22; } }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
        a { color: var(--accent); }
        a:focus-visible, button:focus-visible, input:focus-visible, summary:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
        .skip { position: absolute; left: -999px; } .skip:focus { left: 8px; top: 8px; background: var(--bg); padding: 4px 8px; }
        header { border-bottom: 1px solid var(--line); background: var(--soft); }
        header nav { display: flex; flex-wrap: wrap; gap: 4px 16px; align-items: center; max-width: 1200px; margin: 0 auto; padding: 10px 16px; }
        .brand { font-weight: 700; text-decoration: none; color: var(--fg); }
        .who { margin-left: auto; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
        main { max-width: 1200px; margin: 0 auto; padding: 16px; }
        footer { max-width: 1200px; margin: 0 auto; padding: 16px; color: var(--muted); font-size: 13px; }
        h1 { font-size: 24px; margin: 8px 0 12px; word-break: break-all; } h2 { font-size: 18px; margin: 24px 0 8px; } h3 { font-size: 15px; margin: 12px 0 4px; }
        .muted { color: var(--muted); }
        .scroll { overflow-x: auto; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { font-size: 13px; color: var(--muted); font-weight: 600; }
        td.num, th.num { text-align: right; white-space: nowrap; }
        code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 13px; }
        pre { background: var(--soft); border: 1px solid var(--line); padding: 8px; white-space: pre-wrap; word-break: break-all; max-height: 480px; overflow: auto; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0 0 12px; }
        dl.facts dt { color: var(--muted); } dl.facts dd { margin: 0; word-break: break-all; }
        form.search { display: flex; gap: 8px; margin-bottom: 12px; flex-wrap: wrap; }
        input[type=search], input[type=text], input[type=password] { font: inherit; padding: 6px 8px; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); min-width: 0; flex: 1 1 200px; }
        button, .button { font: inherit; padding: 5px 12px; border: 1px solid var(--line); border-radius: 6px; background: var(--soft); color: var(--fg); cursor: pointer; text-decoration: none; display: inline-block; }
        button.danger, .button.danger { color: var(--danger); border-color: var(--danger); }
        form.inline { display: inline; }
        .pull { display: flex; gap: 4px; align-items: center; margin: 2px 0; }
        .pull input { font-family: ui-monospace, monospace; font-size: 12px; flex: 1 1 auto; width: 100%; min-width: 16em; padding: 2px 6px; }
        h1.digest { font-size: 16px; }
        .pager { display: flex; gap: 16px; margin: 12px 0; align-items: center; }
        .badge { display: inline-block; border: 1px solid var(--line); border-radius: 10px; padding: 0 8px; font-size: 12px; margin: 1px 2px 1px 0; white-space: nowrap; }
        .notice { border: 1px solid var(--line); background: var(--soft); padding: 8px 12px; border-radius: 6px; }
        .error { border-color: var(--danger); }
        .signin { max-width: 360px; display: grid; gap: 8px; }
        @media (max-width: 700px) {
          .wide { display: none; } h1 { font-size: 20px; } main { padding: 10px; }
          table.cards, table.cards tbody, table.cards tr, table.cards td { display: block; width: 100%; }
          table.cards thead { display: none; }
          table.cards tr { border-bottom: 1px solid var(--line); padding: 8px 0; }
          table.cards td { border: 0; padding: 2px 0; text-align: left; }
          .pull input { min-width: 0; }
        }
        """
}
