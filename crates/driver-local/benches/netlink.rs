//! Cost of running netlink requests in namespaces (run as root:
//! `cargo bench -p isthmus-driver-local --bench netlink`). Prints the time per call for
//! route replacements awaited from async code (one namespace, then four in turn), for the
//! blocking form, and for namespace create/delete. Count the threads it starts with
//! `strace -f -c -e trace=clone,clone3 <bench binary>`. Its namespaces are named
//! `isthb1-*` and removed at the end (and at the start, after an interrupted run).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::Result;
use isthmus_core::Cidr;
use isthmus_driver_local::{netns, nl};

const PREFIX: &str = "isthb1-";
const CALLS: u32 = 2000;

fn per_call(total: Duration, calls: u32) -> String {
    format!(
        "{:.1} ms total, {:.1} µs/call",
        total.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e6 / f64::from(calls)
    )
}

fn purge() {
    for ns in netns::list().unwrap_or_default() {
        if ns.starts_with(PREFIX) {
            let _ = netns::delete(&ns);
        }
    }
}

/// The `i`-th /32 of 10.200.0.0/16, a route on loopback.
fn route(i: u32) -> Cidr {
    let ip = Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 200, 0, 0)) + (i % 65_000));
    Cidr::containing(ip, 32)
}

async fn lo_up(ns: &str) -> Result<u32> {
    netns::netlink_in_async(ns, |h| async move {
        let lo = nl::require_link(&h, "lo").await?;
        nl::set_up(&h, lo.index).await?;
        Ok(lo.index)
    })
    .await
}

#[tokio::main]
async fn main() -> Result<()> {
    purge();
    let names: Vec<String> = (0..4).map(|i| format!("{PREFIX}{i}")).collect();
    for ns in &names {
        netns::create(ns)?;
    }
    let lo = lo_up(&names[0]).await?;
    for ns in &names[1..] {
        lo_up(ns).await?;
    }

    let start = Instant::now();
    for i in 0..CALLS {
        let dest = route(i);
        netns::netlink_in_async(&names[0], move |h| async move {
            nl::replace_route(&h, &dest, None, lo).await
        })
        .await?;
    }
    println!(
        "async, one namespace   {CALLS} route replacements: {}",
        per_call(start.elapsed(), CALLS)
    );

    let start = Instant::now();
    for i in 0..CALLS {
        let dest = route(i);
        let ns = &names[i as usize % names.len()];
        netns::netlink_in_async(ns, move |h| async move {
            nl::replace_route(&h, &dest, None, lo).await
        })
        .await?;
    }
    println!(
        "async, four namespaces {CALLS} route replacements: {}",
        per_call(start.elapsed(), CALLS)
    );

    let ns = names[0].clone();
    let start = tokio::task::spawn_blocking(move || -> Result<Instant> {
        let start = Instant::now();
        for i in 0..CALLS {
            let dest = route(i);
            netns::netlink_in(Some(&ns), move |h| async move {
                nl::replace_route(&h, &dest, None, lo).await
            })?;
        }
        Ok(start)
    })
    .await??;
    println!(
        "blocking, one namespace {CALLS} route replacements: {}",
        per_call(start.elapsed(), CALLS)
    );

    let count = netns::netlink_in_async(
        &names[0],
        |h| async move { Ok(nl::routes(&h).await?.len()) },
    )
    .await?;
    println!("routes in {}: {count}", names[0]);

    const CYCLES: u32 = 50;
    let start = Instant::now();
    for i in 0..CYCLES {
        let ns = format!("{PREFIX}c{i}");
        netns::create(&ns)?;
        lo_up(&ns).await?;
        netns::delete(&ns)?;
    }
    println!(
        "create + one call + delete, {CYCLES} namespaces: {}",
        per_call(start.elapsed(), CYCLES)
    );

    for ns in &names {
        netns::delete(ns)?;
    }
    purge();
    Ok(())
}
