//! `hubd lists`: the shopping list and named to-do lists from the store
//! (what "add milk to my shopping list" added).

use std::path::PathBuf;
use std::process::ExitCode;

use hubd::store::Store;

use super::Ctx;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only this list (any case): `hubd lists "shopping list"`.
    pub list: Option<String>,
    /// Database file (default: `[store] path` of the configuration).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// Show checked-off items too.
    #[arg(long, short = 'a')]
    pub all: bool,
}

pub async fn run(ctx: &Ctx, args: Args) -> anyhow::Result<ExitCode> {
    let path = super::store_path(ctx, args.db)?;
    let store = Store::open_existing(&path).await?;
    let mut items = store.list_items(args.list.as_deref()).await?;
    store.close().await;
    if !args.all {
        items.retain(|i| !i.complete);
    }
    if ctx.json {
        println!("{}", serde_json::to_string_pretty(&items)?);
        return Ok(ExitCode::SUCCESS);
    }
    if items.is_empty() {
        println!("(no items)");
    }
    let mut current = None;
    for i in &items {
        if current != Some(i.list.to_lowercase()) {
            println!("{}:", i.list);
            current = Some(i.list.to_lowercase());
        }
        println!("  [{}] {}", if i.complete { "x" } else { " " }, i.item);
    }
    Ok(ExitCode::SUCCESS)
}
