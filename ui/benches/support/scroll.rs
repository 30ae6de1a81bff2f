//! Scrolling a long conversation, frame by frame, as iced's event loop runs one: the user
//! interface kept from the last frame handles a wheel step, the app applies the messages, the
//! view is rebuilt and laid out (its cache carried over), then drawn and rasterised by
//! iced's software renderer (tiny-skia: what the app uses without a GPU) at 1024×768. Older
//! pages load as the history nears its top; the app runs those loads as tasks, so they are
//! off the frame here too, and the frame that shows the new page is timed like any other.

use std::time::{Duration, Instant};

use iced_test::core::renderer::{Headless, Style};
use iced_test::core::theme::Base;
use iced_test::core::{Event, Font, Pixels, Point, Size, clipboard, mouse, window};
use iced_test::renderer::Renderer;
use iced_test::runtime::user_interface::{Cache, UserInterface};
use natter::PeerId;
use natter::node::NodeHandle;
use natter_ui::screen::sidebar;
use natter_ui::{App, Message, Node, Op, run_op};

const SIZE: Size = Size::new(1024.0, 768.0);
/// A point over the history pane (right of the sidebar, above the composer).
const OVER_HISTORY: Point = Point::new(640.0, 300.0);

/// What scrolling did.
pub(crate) struct Frames {
    /// Each frame's time, sorted.
    pub(crate) times: Vec<Duration>,
    /// Older pages loaded on the way up.
    pub(crate) pages: usize,
}

impl Frames {
    pub(crate) fn pct(&self, q: f64) -> Duration {
        let i = ((self.times.len() as f64 * q) as usize).min(self.times.len() - 1);
        self.times[i]
    }
}

/// Applies a message and runs every operation it leads to, as the app's tasks would.
async fn apply(app: &mut App, node: &NodeHandle, message: Message) {
    let mut queue = vec![message];
    while let Some(m) = queue.pop() {
        for op in app.update(m) {
            queue.push(run_op(Node(node.clone()), op).await);
        }
    }
}

/// Opens the conversation with `peer` and scrolls it up by `steps` wheel notches.
pub(crate) async fn scroll_up(node: &NodeHandle, peer: PeerId, steps: usize) -> Frames {
    let mut app = App::default();
    apply(&mut app, node, Message::Booted(Ok(Node(node.clone())))).await;
    apply(
        &mut app,
        node,
        Message::Sidebar(sidebar::Message::Select(peer)),
    )
    .await;
    let mut renderer = Renderer::new(
        Font::with_name("Fira Sans"),
        Pixels(16.0),
        Some("tiny-skia"),
    )
    .await
    .expect("iced's software renderer");
    let cursor = mouse::Cursor::Available(OVER_HISTORY);
    let wheel = Event::Mouse(mouse::Event::WheelScrolled {
        delta: mouse::ScrollDelta::Lines { x: 0.0, y: 1.0 },
    });
    let (mut times, mut pages) = (Vec::with_capacity(steps), 0);
    let mut cache = Cache::default();
    let mut pending: Vec<Op> = Vec::new();
    for _ in 0..steps {
        // The interface as the last frame left it (iced keeps it between frames: not timed).
        let mut ui = UserInterface::build(app.view(), SIZE, cache, &mut renderer);
        let t = Instant::now();
        let mut messages = Vec::new();
        let _ = ui.update(
            std::slice::from_ref(&wheel),
            cursor,
            &mut renderer,
            &mut clipboard::Null,
            &mut messages,
        );
        cache = ui.into_cache();
        for m in messages {
            pending.extend(app.update(m));
        }
        cache = redraw(&app, cache, &mut renderer, cursor);
        times.push(t.elapsed());
        if pending.is_empty() {
            continue;
        }
        // Off the frame: the page loads the scroll asked for. Their answers are applied and
        // shown in a frame of their own, timed too.
        let mut answers = Vec::new();
        for op in std::mem::take(&mut pending) {
            pages += 1;
            answers.push(run_op(Node(node.clone()), op).await);
        }
        let t = Instant::now();
        for m in answers {
            pending.extend(app.update(m));
        }
        cache = redraw(&app, cache, &mut renderer, cursor);
        times.push(t.elapsed());
        // Whatever else those answers asked for (none is expected) runs off the frames.
        for op in std::mem::take(&mut pending) {
            let answer = run_op(Node(node.clone()), op).await;
            apply(&mut app, node, answer).await;
        }
    }
    times.sort();
    Frames { times, pages }
}

/// The view rebuilt and laid out with `cache`, then drawn and rasterised, as a redraw does.
fn redraw(app: &App, cache: Cache, renderer: &mut Renderer, cursor: mouse::Cursor) -> Cache {
    let theme = app.theme();
    let base = theme.base();
    let mut ui = UserInterface::build(app.view(), SIZE, cache, renderer);
    let redraw = Event::Window(window::Event::RedrawRequested(Instant::now()));
    let _ = ui.update(
        &[redraw],
        cursor,
        renderer,
        &mut clipboard::Null,
        &mut Vec::new(),
    );
    let style = Style {
        text_color: base.text_color,
    };
    ui.draw(renderer, &theme, &style, cursor);
    let physical = Size::new(SIZE.width as u32, SIZE.height as u32);
    let _ = renderer.screenshot(physical, 1.0, base.background_color);
    ui.into_cache()
}
