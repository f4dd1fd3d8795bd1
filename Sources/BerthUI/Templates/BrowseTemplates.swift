/// The browsing pages: the repository list, a repository's tags, and a manifest.
enum BrowseTemplates {
    static let repositories = """
        {{<layout}}{{$body}}
        <h1>Repositories</h1>
        <form class="search" method="get" action="/ui/" role="search">
        <label for="q" class="muted">Search</label>
        <input type="search" id="q" name="q" value="{{query}}" placeholder="Filter by name" autocomplete="off">
        <button type="submit">Search</button>
        </form>
        <p class="muted" id="count">{{total}}</p>
        {{#empty}}<p class="notice" id="empty">No repositories{{#searched}} match “{{.}}”{{/searched}}.</p>{{/empty}}
        {{^empty}}<div class="scroll"><table id="repositories">
        <thead><tr><th scope="col">Name</th><th scope="col" class="num">Tags</th><th scope="col" class="num">Size</th><th scope="col" class="wide">Last push</th></tr></thead>
        <tbody>
        {{#rows}}<tr><td><a href="{{href}}">{{name}}</a></td><td class="num">{{tagCount}}</td><td class="num">{{size}}</td><td class="wide"><time datetime="{{lastPushISO}}">{{lastPush}}</time></td></tr>
        {{/rows}}</tbody></table></div>{{/empty}}
        {{>pager}}
        {{/body}}{{/layout}}
        """

    static let repository = """
        {{<layout}}{{$body}}
        <p class="muted"><a href="/ui/">Repositories</a> /</p>
        <h1>{{name}}</h1>
        <p class="muted">{{tagCount}} · {{size}}{{#lastPush}} · last push {{.}}{{/lastPush}}</p>
        {{#empty}}<p class="notice">This repository has no tags (its manifests are reachable by digest only).</p>{{/empty}}
        {{^empty}}<div class="scroll"><table id="tags" class="cards">
        <thead><tr><th scope="col">Tag</th><th scope="col">Digest</th><th scope="col" class="num">Size</th><th scope="col" class="wide">Pushed</th><th scope="col">Platforms</th><th scope="col">Pull</th><th scope="col"><span class="skip">Actions</span></th></tr></thead>
        <tbody>
        {{#rows}}<tr id="tag-{{name}}">
        <td><strong>{{name}}</strong><br><span class="muted">{{kind}}</span></td>
        <td><a class="mono" href="{{manifestHref}}" title="{{digest}}">{{shortDigest}}</a></td>
        <td class="num">{{size}}</td>
        <td class="wide"><time datetime="{{pushedISO}}">{{pushed}}</time></td>
        <td>{{#platforms}}<span class="badge">{{.}}</span>{{/platforms}}</td>
        <td>
        <div class="pull"><input id="docker-{{name}}" readonly value="{{dockerPull}}" aria-label="docker pull command for {{name}}"><button type="button" data-copy="{{dockerPull}}" aria-controls="docker-{{name}}">Copy</button></div>
        <div class="pull wide"><input id="podman-{{name}}" readonly value="{{podmanPull}}" aria-label="podman pull command for {{name}}"><button type="button" data-copy="{{podmanPull}}" aria-controls="podman-{{name}}">Copy</button></div>
        </td>
        <td>{{#deleteHref}}<a class="button danger delete" href="{{.}}">Delete</a>{{/deleteHref}}</td>
        </tr>
        {{/rows}}</tbody></table></div>{{/empty}}
        {{>pager}}
        {{/body}}{{/layout}}
        """

    static let manifest = """
        {{<layout}}{{$body}}
        <p class="muted"><a href="/ui/">Repositories</a> / <a href="{{repositoryHref}}">{{name}}</a> /</p>
        <h1 class="mono digest" id="digest">{{digest}}</h1>
        <dl class="facts">
        <dt>Media type</dt><dd id="media-type">{{mediaType}}</dd>
        {{#artifactType}}<dt>Artifact type</dt><dd>{{.}}</dd>{{/artifactType}}
        <dt>Manifest size</dt><dd>{{size}}</dd>
        <dt>Total size</dt><dd>{{totalSize}}</dd>
        <dt>Tags</dt><dd>{{#tags}}<span class="badge">{{.}}</span>{{/tags}}{{^tags}}<span class="muted">none</span>{{/tags}}</dd>
        {{#subjectHref}}<dt>Refers to</dt><dd><a class="mono" href="{{.}}">{{subjectDigest}}</a></dd>{{/subjectHref}}
        <dt>Pull</dt><dd><div class="pull"><input id="pull-digest" readonly value="{{pullByDigest}}" aria-label="pull command by digest"><button type="button" data-copy="{{pullByDigest}}" aria-controls="pull-digest">Copy</button></div></dd>
        </dl>
        {{#deleteHref}}<p><a class="button danger delete" href="{{.}}">Delete this manifest</a></p>{{/deleteHref}}
        {{#config}}<h2>Configuration</h2>
        <dl class="facts" id="config">
        <dt>Platform</dt><dd>{{platform}}</dd>
        {{#created}}<dt>Created</dt><dd>{{.}}</dd>{{/created}}
        {{#author}}<dt>Author</dt><dd>{{.}}</dd>{{/author}}
        {{#user}}<dt>User</dt><dd>{{.}}</dd>{{/user}}
        {{#workingDir}}<dt>Working directory</dt><dd>{{.}}</dd>{{/workingDir}}
        {{#entrypoint}}<dt>Entrypoint</dt><dd><code>{{.}}</code></dd>{{/entrypoint}}
        {{#cmd}}<dt>Command</dt><dd><code>{{.}}</code></dd>{{/cmd}}
        {{^empty(ports)}}<dt>Exposed ports</dt><dd>{{#ports}}<span class="badge">{{.}}</span>{{/ports}}</dd>{{/empty(ports)}}
        <dt>Config blob</dt><dd class="mono">{{digest}} ({{size}})</dd>
        </dl>
        {{^empty(env)}}<h2>Environment</h2><pre id="env">{{#env}}{{.}}
        {{/env}}</pre>{{/empty(env)}}
        {{^empty(labels)}}<h2>Labels</h2><dl class="facts" id="labels">{{#labels}}<dt>{{key}}</dt><dd>{{value}}</dd>{{/labels}}</dl>{{/empty(labels)}}
        {{^empty(history)}}<h2>History</h2><div class="scroll"><table id="history"><thead><tr><th scope="col" class="wide">Created</th><th scope="col">Step</th></tr></thead><tbody>
        {{#history}}<tr><td class="wide">{{created}}</td><td><code>{{createdBy}}</code>{{#emptyLayer}} <span class="badge">no layer</span>{{/emptyLayer}}{{#comment}} <span class="muted">{{.}}</span>{{/comment}}</td></tr>
        {{/history}}</tbody></table></div>{{/empty(history)}}
        {{/config}}
        {{^empty(layers)}}<h2>Layers</h2><div class="scroll"><table id="layers"><thead><tr><th scope="col" class="num">#</th><th scope="col">Digest</th><th scope="col" class="wide">Media type</th><th scope="col" class="num">Size</th></tr></thead><tbody>
        {{#layers}}<tr><td class="num">{{index}}</td><td class="mono" title="{{digest}}">{{digest}}</td><td class="wide">{{mediaType}}</td><td class="num">{{size}}</td></tr>
        {{/layers}}</tbody></table></div>{{/empty(layers)}}
        {{^empty(children)}}<h2>Platforms</h2><div class="scroll"><table id="children"><thead><tr><th scope="col">Platform</th><th scope="col">Manifest</th><th scope="col" class="wide">Type</th><th scope="col" class="num">Size</th></tr></thead><tbody>
        {{#children}}<tr><td>{{platform}}</td><td><a class="mono" href="{{href}}" title="{{digest}}">{{shortDigest}}</a></td><td class="wide">{{kind}}</td><td class="num">{{size}}</td></tr>
        {{/children}}</tbody></table></div>{{/empty(children)}}
        <h2>Referrers</h2>
        {{^referrerGroups}}<p class="muted" id="no-referrers">No signatures, SBOMs or attestations refer to this manifest.</p>{{/referrerGroups}}
        {{#referrerGroups}}<section class="referrers"><h3>{{artifactType}} <span class="muted">({{count}})</span></h3><ul>
        {{#referrers}}<li><a class="mono" href="{{href}}" title="{{digest}}">{{shortDigest}}</a> · {{size}}{{#annotations}} · <span class="muted">{{key}}</span> {{value}}{{/annotations}}</li>
        {{/referrers}}</ul></section>{{/referrerGroups}}
        {{^empty(annotations)}}<h2>Annotations</h2><dl class="facts">{{#annotations}}<dt>{{key}}</dt><dd>{{value}}</dd>{{/annotations}}</dl>{{/empty(annotations)}}
        <details><summary>Manifest JSON</summary><pre>{{raw}}</pre></details>
        {{/body}}{{/layout}}
        """
}
