//! `isthmus leader`: which replica runs the controller, under which lease epoch, since
//! when (on SQLite the one server, epoch 0), and which replica answered.

use serde_json::Value;

use super::Ctx;
use crate::args::OutputFormat;

pub async fn run(ctx: &Ctx) -> anyhow::Result<String> {
    let status: Value = ctx.client.get("/v1/leader").await?;
    let text = |key: &str| match &status[key] {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    };
    Ok(match ctx.format {
        OutputFormat::Json => crate::output::json(&status)?,
        OutputFormat::Yaml => serde_yaml::to_string(&status)?,
        OutputFormat::Table => format!(
            "leader:   {}\nepoch:    {}\nsince:    {}\nstore:    {}\nanswered: {} ({})\n",
            text("holder"),
            text("epoch"),
            text("since"),
            text("store"),
            text("replica"),
            if status["leader"] == Value::Bool(true) {
                "leads"
            } else {
                "follows"
            },
        ),
    })
}
