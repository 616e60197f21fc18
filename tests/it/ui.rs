//! The web UI in a real browser: headless Chromium (Debian's `chromium`,
//! driven over the DevTools protocol by chromiumoxide) against `vigil run`
//! fed with the example configuration and its logs. Every page opens and
//! shows the fixture README's numbers; a click goes from the overview to an
//! app and on to its alert history. Screenshots land in
//! `target/ui-screenshots/` as artifacts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chromiumoxide::browser::{Browser, BrowserConfig};
use chromiumoxide::page::ScreenshotParams;
use chromiumoxide::Page;
use futures::StreamExt;

use crate::procs::{get_json, wait_for, Proc};
use crate::support::{examples, repo, Sandbox};

/// Debian's Chromium.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The end of the pages' ranges: just after the example logs' last minute
/// (10:04, Asia/Shanghai).
const TO: &str = "2026-11-20T10:06";

fn screenshots() -> PathBuf {
    let dir = repo().join("target").join("ui-screenshots");
    std::fs::create_dir_all(&dir).expect("cannot create target/ui-screenshots");
    dir
}

/// Lines, sum and maximum of the elapsed column (the sixth) of trade.log.
fn trade_elapsed() -> (i64, i64, i64) {
    let text = std::fs::read_to_string(crate::support::examples().join("logs/trade.log"))
        .expect("trade.log");
    let elapsed: Vec<i64> = text
        .lines()
        .map(|l| {
            l.split(',')
                .nth(5)
                .and_then(|e| e.parse().ok())
                .expect("an elapsed field")
        })
        .collect();
    let max = elapsed.iter().copied().max().unwrap_or(0);
    (elapsed.len() as i64, elapsed.iter().sum(), max)
}

/// Waits until `vigil run` has stored every example minute the pages show.
fn wait_for_fixtures(addr: &str) {
    let rows =
        "/api/v1/monitors/trade_by_product/rows?from=2026-11-20T02:00:00Z&to=2026-11-20T02:05:00Z";
    wait_for(60, "the trade log's 5 minutes", || {
        let stored = get_json(addr, rows, &[]);
        (stored.as_array().map_or(0, Vec::len) == 20).then_some(())
    });
    let history = "/api/v1/alerts/history?from=2026-11-20T01:00:00Z&to=2026-11-20T03:00:00Z";
    wait_for(60, "the example alert's two episodes", || {
        let records = get_json(addr, history, &[]);
        (records.as_array().map_or(0, Vec::len) == 2).then_some(())
    });
    wait_for(60, "the rpc log's minute 10:00", || {
        let rows = get_json(
            addr,
            "/api/v1/monitors/rpc_service/rows?from=2026-11-20T02:00:00Z&to=2026-11-20T02:01:00Z",
            &[],
        );
        (!rows.as_array()?.is_empty()).then_some(())
    });
}

/// Opens `url` and waits for it to load.
async fn open(browser: &Browser, url: &str) -> Page {
    let page = browser.new_page(url).await.expect("a new tab");
    page.wait_for_navigation().await.expect("the page loads");
    page
}

/// The text of the page's body, once it has loaded.
async fn text(page: &Page) -> String {
    wait_text(page, "the page's text", |t| !t.is_empty()).await
}

/// Polls the page's text until `check` holds, for at most 15 s: a click's
/// navigation may not have begun when the click returns, and the text of a
/// page being replaced cannot be read.
async fn wait_text(page: &Page, what: &str, check: impl Fn(&str) -> bool) -> String {
    let script = "document.readyState === 'complete' ? document.body.innerText : ''";
    let mut last = String::new();
    for _ in 0..150 {
        if let Ok(value) = page.evaluate(script).await {
            if let Ok(text) = value.into_value::<String>() {
                if check(&text) {
                    return text;
                }
                last = text;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}; the page shows: {last}");
}

/// Saves a full-page screenshot as `target/ui-screenshots/<name>.png`.
/// Types `token` into the login form of `page` and submits it.
async fn sign_in(page: &Page, token: &str) {
    let field = page
        .find_element("input[name=token]")
        .await
        .expect("the token field");
    field
        .click()
        .await
        .expect("focus")
        .type_str(token)
        .await
        .expect("typing");
    page.find_element("button[type=submit]")
        .await
        .expect("the button")
        .click()
        .await
        .expect("a click");
}

async fn screenshot(page: &Page, name: &str) {
    let path = screenshots().join(format!("{name}.png"));
    page.save_screenshot(ScreenshotParams::builder().full_page(true).build(), &path)
        .await
        .unwrap_or_else(|e| panic!("cannot save {}: {e}", path.display()));
}

/// The cells of the row of `table` (a CSS selector) whose first cell is
/// `first`, keyed by their column titles.
async fn row(page: &Page, table: &str, first: &str) -> Vec<(String, String)> {
    let script = format!(
        r#"(() => {{
            const t = document.querySelector({table:?});
            if (!t) return [];
            const heads = [...t.querySelectorAll("thead th")].map(th => th.innerText.replace("↗", "").trim());
            const tr = [...t.querySelectorAll("tbody tr")].find(r => r.cells[0] && r.cells[0].innerText.trim() === {first:?});
            if (!tr) return [];
            return [...tr.cells].map((c, i) => [heads[i] || "", c.innerText.trim()]);
        }})()"#
    );
    // Retried for a while: the page may still be loading.
    for _ in 0..50 {
        let cells = page
            .evaluate(script.as_str())
            .await
            .ok()
            .and_then(|v| v.into_value::<Vec<(String, String)>>().ok())
            .unwrap_or_default();
        if !cells.is_empty() {
            return cells;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Vec::new()
}

fn cell<'a>(row: &'a [(String, String)], column: &str) -> Option<&'a str> {
    row.iter()
        .find(|(c, _)| c == column)
        .map(|(_, v)| v.as_str())
}

async fn launch(profile: &Path) -> (Browser, tokio::task::JoinHandle<()>) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "the browser tests need Debian's Chromium: apt-get install chromium"
    );
    let config = BrowserConfig::builder()
        .chrome_executable(CHROMIUM)
        .no_sandbox()
        .user_data_dir(profile)
        .window_size(1600, 1000)
        .viewport(None)
        .request_timeout(Duration::from_secs(30))
        .args([
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .build()
        .expect("a browser configuration");
    let (browser, mut handler) = Browser::launch(config).await.expect("Chromium starts");
    // The handler drives the DevTools connection; messages of this newer
    // Chromium that chromiumoxide cannot parse come out as errors and are
    // skipped, not fatal.
    let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
    (browser, events)
}

#[test]
fn every_page_in_a_browser_shows_the_fixture_numbers() {
    let sandbox = Sandbox::new();
    let vigil = Proc::run(&examples(), &sandbox.path("data"));
    let addr = vigil.addr.clone();
    wait_for_fixtures(&addr);
    let base = format!("http://{addr}");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let (mut browser, events) = launch(&sandbox.path("chromium")).await;

        // The trade dashboard: method 创建 per product at 10:00 and 10:01.
        let page = open(&browser, &format!("{base}/dashboards/trade?to={TO}")).await;
        screenshot(&page, "dashboard-trade").await;
        let across = "table[data-report^='Orders created per product']";
        for (minute, want) in [
            ("2026-11-20 10:00", [("衣服", "29"), ("食品", "16"), ("家居", "9"), ("数码", "6")]),
            ("2026-11-20 10:01", [("衣服", "33"), ("食品", "24"), ("家居", "7"), ("数码", "5")]),
        ] {
            let got = row(&page, across, minute).await;
            for (product, count) in want {
                assert_eq!(cell(&got, product), Some(count), "{minute} {product}: {got:?}");
            }
        }
        // The archive table: trade.log's 5 minutes of 120 lines in hour
        // 10:00, which `to` (10:06) is in; elapsed as a sum over the file.
        let hours = "table[data-report^='Orders per hour']";
        let got = row(&page, hours, "2026-11-20 10:00 (in progress)").await;
        let (lines, sum, max) = trade_elapsed();
        assert_eq!(lines, 600);
        assert_eq!(cell(&got, "orders"), Some("600"), "{got:?}");
        let avg = format!("{:.1}", sum as f64 / lines as f64);
        assert_eq!(cell(&got, "avg elapsed ms"), Some(avg.as_str()), "{got:?}");
        let max = max.to_string();
        assert_eq!(cell(&got, "max elapsed ms"), Some(max.as_str()), "{got:?}");
        // Every example file has its dashboard, listed and rendered.
        let page = open(&browser, &format!("{base}/dashboards")).await;
        let listed = text(&page).await;
        for (name, title) in [
            ("web", "Web access"),
            ("errors", "Errors"),
            ("gbk_trade", "Trade orders (GBK log)"),
            ("sofa", "SOFA services"),
            ("toll", "Toll stations"),
        ] {
            assert!(listed.contains(title), "{title} in {listed}");
            let page = open(&browser, &format!("{base}/dashboards/{name}?to={TO}")).await;
            let body = text(&page).await;
            assert!(body.contains(title) && !body.contains("Bad Request"), "{name}: {body}");
            screenshot(&page, &format!("dashboard-{name}")).await;
        }
        let page = open(&browser, &format!("{base}/dashboards/gbk_trade?to={TO}")).await;
        let got = row(&page, "table[data-report='Orders created per product']", "2026-11-20 10:00").await;
        assert_eq!(cell(&got, "衣服"), Some("29"), "{got:?}");

        // A monitor: the README's rpc numbers of minute 10:00.
        let page = open(
            &browser,
            &format!("{base}/monitors/rpc_service?to={TO}&span=15&key.service=com.example.trade.OrderFacade%3A1.0&key.method=create"),
        )
        .await;
        screenshot(&page, "monitor-rpc_service").await;
        let got = row(&page, "main table", "2026-11-20 10:00").await;
        for (value, want) in [
            ("total", "105"),
            ("success", "98"),
            ("fail", "7"),
            ("success_rate", "0.9333"),
            ("avg_latency", "51.333"),
        ] {
            assert_eq!(cell(&got, value), Some(want), "{value}: {got:?}");
        }

        // The monitors list: trade.log's 600 lines, none malformed.
        let page = open(&browser, &format!("{base}/monitors")).await;
        screenshot(&page, "monitors").await;
        let got = row(&page, "main table", "trade_total").await;
        assert_eq!(cell(&got, "Lines"), Some("600"), "{got:?}");
        assert_eq!(cell(&got, "Parse errors"), Some("0"), "{got:?}");

        // Agents: the embedded agent, healthy.
        let page = open(&browser, &format!("{base}/agents")).await;
        screenshot(&page, "agents").await;
        assert!(text(&page).await.contains("healthy"));

        // Overview → app trade → its alert history.
        let page = open(&browser, &format!("{base}/?to={TO}")).await;
        screenshot(&page, "overview").await;
        let overview = text(&page).await;
        assert!(overview.contains("6 healthy"), "{overview}");
        assert!(overview.contains("success_rate_low"), "{overview}");
        page.find_element("ul.apps a[href^='/apps/trade?']")
            .await
            .expect("a link to app trade")
            .click()
            .await
            .expect("a click");
        let app = wait_text(&page, "the app page", |t| t.contains("App trade")).await;
        assert!(app.starts_with("vigil") && app.contains("App trade"), "{app}");
        assert!(app.contains("trade_by_product"), "{app}");
        screenshot(&page, "app-trade").await;
        page.find_element("a[href^='/alerts?from=']")
            .await
            .expect("a link to the alert history")
            .click()
            .await
            .expect("a click");
        let alerts = wait_text(&page, "the alert history", |t| t.contains("History (")).await;
        screenshot(&page, "alerts").await;
        assert!(alerts.contains("History (2)"), "{alerts}");
        assert!(alerts.contains("0.8462") && alerts.contains("0.8485"), "{alerts}");
        assert!(alerts.contains("交易 / 退款"), "{alerts}");

        browser.close().await.expect("Chromium closes");
        let _ = browser.wait().await;
        events.await.expect("the event loop ends");
    });
}

#[test]
fn the_browser_signs_in_with_the_api_token_and_out() {
    let sandbox = Sandbox::new();
    let token = "ui-test-token";
    let vigil = Proc::collector(
        &examples(),
        &sandbox.path("data"),
        "127.0.0.1:0",
        &[("VIGIL_API_TOKEN", token)],
    );
    let base = format!("http://{}", vigil.addr);
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let (mut browser, events) = launch(&sandbox.path("chromium")).await;
        let url = |page: &Page| {
            let page = page.clone();
            async move { page.url().await.expect("the URL").unwrap_or_default() }
        };

        // A page without the session goes to the login form, remembering it.
        let page = open(&browser, &format!("{base}/monitors?span=15")).await;
        assert!(
            url(&page)
                .await
                .ends_with("/login?next=%2Fmonitors%3Fspan%3D15"),
            "{}",
            url(&page).await
        );
        screenshot(&page, "login").await;

        // A wrong token is refused on the form.
        sign_in(&page, "wrong").await;
        wait_text(&page, "the refusal", |t| {
            t.contains("That is not the API token.")
        })
        .await;

        // The right one lands on the page asked for; the token is in no URL.
        sign_in(&page, token).await;
        let body = wait_text(&page, "the monitors page", |t| t.contains("Sign out")).await;
        assert!(body.contains("trade_total"), "{body}");
        let landed = url(&page).await;
        assert!(landed.ends_with("/monitors?span=15"), "{landed}");
        assert!(!landed.contains(token));
        let cookies = browser.get_cookies().await.expect("the cookies");
        let session = cookies
            .iter()
            .find(|c| c.name == "vigil_session")
            .expect("a session cookie");
        assert!(
            session.http_only && !session.value.contains(token),
            "{session:?}"
        );

        // Signing out drops the session.
        page.find_element("form.signout button")
            .await
            .expect("the sign-out button")
            .click()
            .await
            .expect("a click");
        wait_text(&page, "the login page", |t| {
            t.contains("needs its API token")
        })
        .await;
        let page = open(&browser, &format!("{base}/alerts")).await;
        assert!(
            url(&page).await.contains("/login?next="),
            "{}",
            url(&page).await
        );

        browser.close().await.expect("Chromium closes");
        let _ = browser.wait().await;
        events.await.expect("the event loop ends");
    });
}
