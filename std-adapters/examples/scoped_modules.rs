//! Scoped buses: an application of three modules (auth, chat, cart), as in chapter 5 §5.6
//! of the original book.
//!
//! * Each module has its own bus and an orchestrator on it: its jobs' events (loading
//!   states, steps, the auth module's session token) stay on that bus.
//! * The modules share **one** dispatcher: executors are registered in one place, and each
//!   job's events go to the bus of the orchestrator that dispatched it.
//! * The one public event, "user_logged_in", goes to the process-wide bus
//!   (`global_bus()`); a small bridge turns it into commands for chat and cart.
//!
//! At the end the program prints what each bus carried, and checks that nothing leaked.
//!
//! Run it from the repository root with `cargo run --example scoped_modules`.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use orchestrator_std::tokio::{self as rt, TokioRuntime};
use orchestrator_std::{
    AsyncState, Bus, Context, Event, EventTag, Executor, Job, JobContext, JobError, Orchestrator, OrchestratorHandle,
    Subscription, global_bus,
};

/// The name of the one public event.
const USER_LOGGED_IN: &str = "user_logged_in";

// ---------------------------------------------------------------------------------------
// Jobs and executors (business logic), registered once on the shared dispatcher.

struct LogIn {
    user: &'static str,
}
impl Job for LogIn {
    type Output = String; // the user's display name
}

struct ConnectChat {
    user: String,
}
impl Job for ConnectChat {
    type Output = String; // the room
}

struct SendMessage {
    text: String,
}
impl Job for SendMessage {
    type Output = String; // the message as stored by the server
}

struct LoadCart {
    user: String,
}
impl Job for LoadCart {
    type Output = Vec<String>;
}

struct AddToCart {
    item: String,
}
impl Job for AddToCart {
    type Output = String;
}

/// All the (simulated) servers: one struct, one executor per job type.
struct Backend;

async fn network() {
    tokio::time::sleep(Duration::from_millis(15)).await;
}

impl Executor<LogIn> for Backend {
    async fn process(&self, job: &LogIn, ctx: &JobContext) -> Result<String, JobError> {
        network().await;
        // Sensitive: only the auth module may see it. It goes to the job's bus, the auth bus.
        ctx.emit("session_token", format!("token-for-{}", job.user))?;
        Ok(job.user.to_uppercase())
    }
}

impl Executor<ConnectChat> for Backend {
    async fn process(&self, job: &ConnectChat, ctx: &JobContext) -> Result<String, JobError> {
        let _ = ctx.step(1, 2, Some("resolving the room"));
        network().await;
        let _ = ctx.step(2, 2, Some("joining"));
        Ok(format!("#general ({})", job.user))
    }
}

impl Executor<SendMessage> for Backend {
    async fn process(&self, job: &SendMessage, _ctx: &JobContext) -> Result<String, JobError> {
        network().await;
        Ok(job.text.clone())
    }
}

impl Executor<LoadCart> for Backend {
    async fn process(&self, job: &LoadCart, _ctx: &JobContext) -> Result<Vec<String>, JobError> {
        network().await;
        Ok(if job.user == "ALICE" { vec!["book".to_string()] } else { Vec::new() })
    }
}

impl Executor<AddToCart> for Backend {
    async fn process(&self, job: &AddToCart, _ctx: &JobContext) -> Result<String, JobError> {
        network().await;
        Ok(job.item.clone())
    }
}

// ---------------------------------------------------------------------------------------
// The auth module.

struct Auth;

impl Orchestrator for Auth {
    type State = AsyncState<String>;
    type Command = &'static str; // log in as this user

    fn handle(&mut self, user: &'static str, ctx: &mut Context<'_, Self>) {
        match ctx.dispatch(LogIn { user }) {
            Ok(_) => ctx.update_state(|s| s.set_loading()),
            Err(e) => ctx.update_state(|s| s.set_failure(JobError::msg(e))),
        }
    }

    fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        if let Some(user) = event.data_as::<String>() {
            ctx.update_state(|s| s.set_success(user.clone()));
            // The public announcement, for the other modules.
            let _ = global_bus().emit(Event::custom(USER_LOGGED_IN, user.clone()));
        }
    }

    fn on_active_failure(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        if let Some(error) = event.error() {
            ctx.update_state(|s| s.set_failure(error.clone()));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The chat module.

#[derive(Clone, Debug, Default)]
struct ChatState {
    room: Option<String>,
    messages: Vec<String>,
}

enum ChatCommand {
    Connect(String),
    Send(String),
}

struct Chat;

impl Orchestrator for Chat {
    type State = ChatState;
    type Command = ChatCommand;

    fn handle(&mut self, command: ChatCommand, ctx: &mut Context<'_, Self>) {
        let _ = match command {
            ChatCommand::Connect(user) => ctx.dispatch(ConnectChat { user }),
            ChatCommand::Send(text) => ctx.dispatch(SendMessage { text }),
        };
    }

    fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        let Some(text) = event.data_as::<String>().cloned() else { return };
        if event.is_from::<ConnectChat>() {
            ctx.update_state(|s| s.room = Some(text));
        } else if event.is_from::<SendMessage>() {
            ctx.update_state(|s| s.messages.push(text));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The cart module.

enum CartCommand {
    Load(String),
    Add(String),
}

struct Cart;

impl Orchestrator for Cart {
    type State = AsyncState<Vec<String>>;
    type Command = CartCommand;

    fn handle(&mut self, command: CartCommand, ctx: &mut Context<'_, Self>) {
        let dispatched = match command {
            CartCommand::Load(user) => ctx.dispatch(LoadCart { user }),
            CartCommand::Add(item) => ctx.dispatch(AddToCart { item }),
        };
        if dispatched.is_ok() {
            ctx.update_state(|s| s.set_loading());
        }
    }

    fn on_active_success(&mut self, event: &Event, ctx: &mut Context<'_, Self>) {
        if let Some(items) = event.data_as::<Vec<String>>() {
            ctx.update_state(|s| s.set_success(items.clone()));
        } else if let Some(item) = event.data_as::<String>() {
            let mut items = ctx.state().data().cloned().unwrap_or_default();
            items.push(item.clone());
            ctx.update_state(|s| s.set_success(items));
        }
    }
}

// ---------------------------------------------------------------------------------------

/// Waits until the orchestrator's state satisfies `done`.
async fn wait_for<O: Orchestrator>(handle: &OrchestratorHandle<O>, done: impl Fn(&O::State) -> bool) {
    let mut states = handle.states();
    while let Some(state) = states.next().await {
        if done(&state) {
            return;
        }
    }
}

/// What a bus carried: the tags of its events, per job type (a custom event emitted by a
/// job has the job's type; one emitted on its own has its name).
fn summary(events: &mut Subscription) -> BTreeMap<&'static str, Vec<EventTag>> {
    let mut seen: BTreeMap<&'static str, Vec<EventTag>> = BTreeMap::new();
    while let Ok(event) = events.try_next() {
        seen.entry(event.job_type()).or_default().push(event.tag());
    }
    seen
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One dispatcher for the whole application; executors registered in one place.
    let dispatcher = rt::dispatcher()?;
    dispatcher.register::<LogIn, _>(Backend);
    dispatcher.register::<ConnectChat, _>(Backend);
    dispatcher.register::<SendMessage, _>(Backend);
    dispatcher.register::<LoadCart, _>(Backend);
    dispatcher.register::<AddToCart, _>(Backend);

    // One bus per module, and the public one.
    let (auth_bus, chat_bus, cart_bus) = (Bus::new(), Bus::new(), Bus::new());
    let mut watch = [
        ("auth", auth_bus.subscribe()?),
        ("chat", chat_bus.subscribe()?),
        ("cart", cart_bus.subscribe()?),
        ("global", global_bus().subscribe()?),
    ];

    let spawner = TokioRuntime::new();
    let auth = Auth.builder(AsyncState::new(), &dispatcher).bus(auth_bus).spawn(&spawner)?;
    let chat = Chat.builder(ChatState::default(), &dispatcher).bus(chat_bus).spawn(&spawner)?;
    let cart = Cart.builder(AsyncState::new(), &dispatcher).bus(cart_bus).spawn(&spawner)?;

    // The bridge: public events → commands of the modules that care.
    let mut public = global_bus().subscribe()?;
    let (chat_in, cart_in) = (chat.clone(), cart.clone());
    let bridge = tokio::spawn(async move {
        while let Some(Ok(event)) = public.next().await {
            if event.tag() == EventTag::Custom(USER_LOGGED_IN) {
                if let Some(user) = event.data_as::<String>() {
                    println!("global: {user} logged in");
                    let _ = chat_in.send(ChatCommand::Connect(user.clone())).await;
                    let _ = cart_in.send(CartCommand::Load(user.clone())).await;
                }
            }
        }
    });

    auth.send("alice").await?;
    wait_for(&chat, |s| s.room.is_some()).await;
    wait_for(&cart, |s| s.status().is_success()).await;
    println!("auth: {:?}", auth.state().data());
    println!("chat: joined {:?}", chat.state().room);
    println!("cart: {:?}", cart.state().data());

    chat.send(ChatCommand::Send("hello from alice".into())).await?;
    cart.send(CartCommand::Add("lamp".into())).await?;
    wait_for(&chat, |s| !s.messages.is_empty()).await;
    wait_for(&cart, |s| s.status().is_success() && s.data().is_some_and(|items| items.len() == 2)).await;
    println!("chat: messages {:?}", chat.state().messages);
    println!("cart: {:?}", cart.state().data());

    // What each bus carried, by job type (or custom event name).
    println!();
    let mut carried = BTreeMap::new();
    for (name, events) in &mut watch {
        let seen = summary(events);
        println!("{name} bus:");
        for (source, tags) in &seen {
            println!("    {source}: {tags:?}");
        }
        carried.insert(*name, seen);
    }

    // Isolation: every module's events stayed on its bus, the session token (emitted by
    // the LogIn job) never left the auth bus, and the global bus carried only the
    // announcement.
    let sources = |bus: &str| carried[bus].keys().copied().collect::<Vec<_>>();
    assert_eq!(sources("auth"), ["LogIn"]);
    assert_eq!(sources("chat"), ["ConnectChat", "SendMessage"]);
    assert_eq!(sources("cart"), ["AddToCart", "LoadCart"]);
    assert_eq!(sources("global"), [USER_LOGGED_IN]);
    let token = EventTag::Custom("session_token");
    let buses_with_token: Vec<&str> = carried
        .iter()
        .filter(|(_, seen)| seen.values().flatten().any(|tag| *tag == token))
        .map(|(bus, _)| *bus)
        .collect();
    assert_eq!(buses_with_token, ["auth"]);
    println!("\nno event left its module");

    auth.shutdown();
    chat.shutdown();
    cart.shutdown();
    bridge.abort();
    dispatcher.shutdown();
    Ok(())
}
