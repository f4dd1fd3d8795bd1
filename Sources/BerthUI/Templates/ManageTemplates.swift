/// Sign-in, delete confirmation, storage and error pages. Every form that changes state carries
/// the session's CSRF token.
enum ManageTemplates {
    static let signIn = """
        {{<layout}}{{$body}}
        <h1>Sign in</h1>
        {{#unavailable}}<p class="notice">This registry's users sign in through an external token service; the web UI shows what anonymous users may pull.</p>{{/unavailable}}
        {{^unavailable}}
        {{#error}}<p class="notice error" role="alert" id="signin-error">{{.}}</p>{{/error}}
        <form class="signin" method="post" action="/ui/login">
        <input type="hidden" name="csrf" value="{{nav.csrfToken}}">
        <input type="hidden" name="next" value="{{next}}">
        <label for="username">User name</label>
        <input type="text" id="username" name="username" autocomplete="username" required autofocus>
        <label for="password">Password</label>
        <input type="password" id="password" name="password" autocomplete="current-password" required>
        <button type="submit" id="signin">Sign in</button>
        </form>
        <p class="muted">The same users and access rules as <code>docker login</code>.</p>
        {{/unavailable}}
        {{/body}}{{/layout}}
        """

    static let confirmDelete = """
        {{<layout}}{{$body}}
        <h1>Delete {{#isDigest}}manifest{{/isDigest}}{{^isDigest}}tag{{/isDigest}}?</h1>
        <p>Repository <strong>{{name}}</strong>, {{#isDigest}}manifest <code>{{reference}}</code>{{/isDigest}}{{^isDigest}}tag <strong>{{reference}}</strong>{{/isDigest}}.</p>
        {{#isDigest}}{{^empty(tags)}}<p>These tags point at it and are deleted with it: {{#tags}}<span class="badge">{{.}}</span>{{/tags}}</p>{{/empty(tags)}}{{/isDigest}}
        {{^isDigest}}<p class="muted">Only the tag goes; the manifest stays, reachable by digest, until garbage collection removes untagged content (if configured to).</p>{{/isDigest}}
        <form method="post" action="/ui/delete">
        <input type="hidden" name="csrf" value="{{nav.csrfToken}}">
        <input type="hidden" name="name" value="{{name}}">
        <input type="hidden" name="reference" value="{{reference}}">
        <button type="submit" class="danger" id="confirm-delete">Delete</button>
        <a class="button" href="{{repositoryHref}}">Cancel</a>
        </form>
        {{/body}}{{/layout}}
        """

    static let admin = """
        {{<layout}}{{$body}}
        <h1>Storage</h1>
        {{#message}}<p class="notice" role="status" id="message">{{.}}</p>{{/message}}
        <h2>Contents</h2>
        {{#countsKnown}}<dl class="facts" id="counts">{{#counts}}<dt>{{key}}</dt><dd>{{value}}</dd>{{/counts}}</dl>{{/countsKnown}}
        {{^countsKnown}}<p class="muted">Not counted yet: a garbage collection (or the metrics' first walk) counts the storage.</p>{{/countsKnown}}
        <h2>Garbage collection</h2>
        {{#gcKnown}}<dl class="facts" id="gc">{{#lastGC}}<dt>{{key}}</dt><dd>{{value}}</dd>{{/lastGC}}</dl>
        {{^empty(removals)}}<details><summary>Removed</summary><div class="scroll"><table><tbody>{{#removals}}<tr><td>{{key}}</td><td class="mono">{{value}}</td></tr>{{/removals}}</tbody></table></div></details>{{/empty(removals)}}{{/gcKnown}}
        {{^gcKnown}}<p class="muted">No collection has completed on this storage yet.</p>{{/gcKnown}}
        <form method="post" action="/ui/admin/gc" class="search">
        <input type="hidden" name="csrf" value="{{nav.csrfToken}}">
        <label><input type="checkbox" name="dryRun" value="true" checked> Dry run (report only)</label>
        <label><input type="checkbox" name="deleteUntagged" value="true"> Also untagged manifests</label>
        <button type="submit" id="run-gc">Run garbage collection</button>
        </form>
        <h2>Usage by repository</h2>
        {{^usageShown}}<p><a class="button" href="/ui/admin?usage=true" id="compute-usage">Compute usage</a> <span class="muted">walks the whole storage: slow on large registries</span></p>{{/usageShown}}
        {{#usageShown}}<div class="scroll"><table id="usage"><thead><tr><th scope="col">Repository</th><th scope="col" class="num">Manifests</th><th scope="col" class="num">Tags</th><th scope="col" class="num">Size</th><th scope="col" class="num wide">Shared</th><th scope="col" class="num">Own</th></tr></thead><tbody>
        {{#usage}}<tr><td>{{name}}</td><td class="num">{{manifests}}</td><td class="num">{{tags}}</td><td class="num">{{logical}}</td><td class="num wide">{{shared}}</td><td class="num">{{exclusive}}</td></tr>
        {{/usage}}</tbody></table></div>{{/usageShown}}
        {{/body}}{{/layout}}
        """

    static let error = """
        {{<layout}}{{$body}}
        <h1>{{title}}</h1>
        <p class="notice error" role="alert" id="error-message">{{message}}</p>
        <p><a href="/ui/">Back to the repositories</a></p>
        {{/body}}{{/layout}}
        """
}
