//! A real browser for the console tests: Debian's Chromium, headless, driven over the
//! DevTools protocol (headless_chrome, built without its browser downloader). A missing
//! Chromium fails the test: `./scripts/setup` installs it.
#![allow(dead_code)] // each test binary uses its own part of the harness

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use headless_chrome::browser::tab::Tab;
use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::Browser::{GrantPermissions, PermissionType};
use headless_chrome::protocol::cdp::Page::CaptureScreenshotFormatOption;
use headless_chrome::types::Bounds;
use headless_chrome::{Browser, LaunchOptions};

use crate::support::PATIENCE;

/// Where Debian puts Chromium; `ISTHMUS_CHROMIUM` overrides it.
pub const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";

/// One headless Chromium with one tab, a fresh profile, and a record of every script
/// error and `console.error` the page produced.
pub struct Page {
    pub tab: Arc<Tab>,
    errors: Arc<Mutex<Vec<String>>>,
    shots: PathBuf,
    /// Kept alive with the tab: dropping it ends the browser process.
    _browser: Browser,
    _profile: tempfile::TempDir,
}

impl Page {
    /// Starts Chromium at 1280×800 and opens `url`.
    pub fn open(url: &str, screenshot_prefix: &str) -> Page {
        let path = std::env::var_os("ISTHMUS_CHROMIUM")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CHROMIUM));
        assert!(
            path.exists(),
            "Chromium is not installed at {} (run ./scripts/setup, which installs Debian's \
             `chromium`); the console tests need a real browser",
            path.display()
        );
        let profile = tempfile::tempdir().expect("a fresh Chromium profile directory");
        let options = LaunchOptions::default_builder()
            .path(Some(path))
            .headless(true)
            // CI runs as root, where Chromium's sandbox cannot start.
            .sandbox(false)
            .window_size(Some((1280, 800)))
            .user_data_dir(Some(profile.path().to_path_buf()))
            .idle_browser_timeout(PATIENCE * 4)
            .args(
                [
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--no-first-run",
                    "--no-default-browser-check",
                ]
                .iter()
                .map(OsStr::new)
                .collect(),
            )
            .build()
            .expect("Chromium launch options");
        let browser = Browser::new(options).expect("launch headless Chromium");
        let tab = browser.new_tab().expect("open a tab");
        tab.set_default_timeout(PATIENCE);

        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        tab.enable_runtime().expect("enable Runtime events");
        tab.add_event_listener(Arc::new(move |event: &Event| {
            let message = match event {
                Event::RuntimeExceptionThrown(e) => {
                    Some(format!("uncaught: {}", e.params.exception_details.text))
                }
                Event::RuntimeConsoleAPICalled(e) if format!("{:?}", e.params.Type) == "Error" => {
                    Some(format!("console.error: {:?}", e.params.args))
                }
                _ => None,
            };
            if let Some(m) = message {
                sink.lock().unwrap().push(m);
            }
        }))
        .expect("listen for page errors");

        tab.navigate_to(url)
            .and_then(|t| t.wait_until_navigated())
            .unwrap_or_else(|e| panic!("open {url}: {e}"));
        let shots = screenshot_dir();
        remove_old_screenshots(&shots, screenshot_prefix);
        Page {
            tab,
            errors,
            shots: shots.join(screenshot_prefix),
            _browser: browser,
            _profile: profile,
        }
    }

    /// Evaluates `expression` (awaiting a promise) and returns its JSON value.
    pub fn eval(&self, expression: &str) -> serde_json::Value {
        let wrapped = format!(
            "Promise.resolve(({expression})).then(v => JSON.stringify(v === undefined ? null : v))"
        );
        let result = self
            .tab
            .evaluate(&wrapped, true)
            .unwrap_or_else(|e| panic!("evaluate `{expression}`: {e}"));
        let text = result
            .value
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("`{expression}` gave no value: {:?}", result.description));
        serde_json::from_str(&text).expect("JSON from the page")
    }

    /// Waits until the JavaScript `condition` holds; fails with a screenshot and the page
    /// text if it never does. A guard against hanging, not a speed assertion.
    pub fn wait_for(&self, what: &str, condition: &str) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if self.eval(&format!("!!({condition})")) == serde_json::Value::Bool(true) {
                return;
            }
            if Instant::now() > deadline {
                let shot = self.screenshot(&format!("failed-{}", slug(what)));
                panic!(
                    "never saw {what} (`{condition}`); screenshot {}; page text:\n{}",
                    shot.display(),
                    self.text("body")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The visible text of the first element matching `selector` ("" if none).
    pub fn text(&self, selector: &str) -> String {
        let js = format!(
            "(document.querySelector({}) || {{innerText: ''}}).innerText",
            serde_json::to_string(selector).unwrap()
        );
        self.eval(&js).as_str().unwrap_or_default().to_string()
    }

    /// How many elements match `selector`.
    pub fn count(&self, selector: &str) -> u64 {
        let js = format!(
            "document.querySelectorAll({}).length",
            serde_json::to_string(selector).unwrap()
        );
        self.eval(&js).as_u64().expect("a count")
    }

    /// Clicks the element as a user would (a real mouse event at its centre). The console
    /// re-renders a page when its data refreshes: an element found just before that is
    /// detached by the time it is clicked, and the user would click the new one, so it is
    /// found again (a few times) rather than failing.
    pub fn click(&self, selector: &str) {
        let mut tries = 0;
        loop {
            tries += 1;
            let element = self
                .tab
                .wait_for_element(selector)
                .unwrap_or_else(|e| panic!("find {selector}: {e}"));
            match element.scroll_into_view().and_then(|e| e.click()) {
                Ok(_) => return,
                Err(e) if tries < 5 && format!("{e}").contains("detached") => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("click {selector}: {e}"),
            }
        }
    }

    /// Empties a text field, then types `text` into it key by key.
    pub fn fill(&self, selector: &str, text: &str) {
        self.eval(&format!(
            "document.querySelector({}).value = ''",
            serde_json::to_string(selector).unwrap()
        ));
        self.click(selector);
        self.tab
            .type_str(text)
            .unwrap_or_else(|e| panic!("type into {selector}: {e}"));
    }

    /// Saves a PNG of the viewport as `<prefix>-<name>.png`; returns and prints its path.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        let png = self
            .tab
            .capture_screenshot(CaptureScreenshotFormatOption::Png, None, None, true)
            .expect("capture a screenshot");
        let file_name = format!(
            "{}-{name}.png",
            self.shots.file_name().unwrap().to_string_lossy()
        );
        let path = self.shots.with_file_name(file_name);
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        println!("screenshot: {}", path.display());
        path
    }

    /// Resizes the window (e.g. to a phone's width).
    pub fn resize(&self, width: u32, height: u32) {
        self.tab
            .set_bounds(Bounds::Normal {
                left: None,
                top: None,
                width: Some(width.into()),
                height: Some(height.into()),
            })
            .expect("resize the window");
    }

    /// Lets the page read the clipboard back, so a test can check what a copy button copied.
    pub fn allow_clipboard(&self, origin: &str) {
        self.tab
            .call_method(GrantPermissions {
                permissions: vec![
                    PermissionType::ClipboardReadWrite,
                    PermissionType::ClipboardSanitizedWrite,
                ],
                origin: Some(origin.to_string()),
                browser_context_id: None,
            })
            .expect("grant clipboard permissions");
    }

    /// Presses a key on whatever has the focus (e.g. "Enter", "Tab").
    pub fn press(&self, key: &str) {
        self.tab
            .press_key(key)
            .unwrap_or_else(|e| panic!("press {key}: {e}"));
    }

    /// Every input, select and textarea in the page's main area has a label.
    pub fn assert_every_field_labelled(&self) {
        let unlabelled = self.eval(
            "[...document.querySelectorAll('main input, main select, main textarea')]\
             .filter(el => el.labels.length === 0).map(el => el.id || el.outerHTML)",
        );
        assert_eq!(unlabelled, serde_json::json!([]), "fields without a label");
    }

    /// Every script error and `console.error` so far.
    pub fn errors(&self) -> Vec<String> {
        self.errors.lock().unwrap().clone()
    }
}

/// `target/console-screenshots/`, next to the test binary's own target directory.
pub fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/debug/deps/console-… → target
    let target = exe
        .ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("create target/console-screenshots");
    dir
}

/// A run leaves only its own screenshots: older ones of this test (`<prefix>-*.png`) go.
fn remove_old_screenshots(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&format!("{prefix}-")) && name.ends_with(".png") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn slug(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// A string as a JavaScript literal.
pub fn js(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}
