//! Power changes and the small management intents (boot mode, secure
//! boot, console). They never move the provision state; failures are
//! reported in `last_error` and always clear the pending target.

use std::time::Duration;

use ferrite_drivers::InterfaceKind as K;
use ferrite_model::PowerTarget;
use tracing::warn;

use super::driver_for;
use crate::FlowError;
use crate::claim::Locked;

async fn report_failure(lock: &mut Locked, message: String) -> Result<(), FlowError> {
    warn!(error = %message, "operation failed");
    lock.release(move |n, _| {
        n.last_error = Some(message);
        Ok(())
    })
    .await
}

async fn power_failure(lock: &mut Locked, message: String) -> Result<(), FlowError> {
    warn!(error = %message, "power change failed");
    lock.release(move |n, _| {
        n.target_power_state = None;
        n.last_error = Some(message);
        Ok(())
    })
    .await
}

/// Carries out a power target; `power_state` records the result.
pub(crate) async fn change_power(
    lock: &mut Locked,
    target: PowerTarget,
    timeout: Option<u64>,
) -> Result<(), FlowError> {
    let driver = match driver_for(lock, &[K::Power]).await {
        Ok(d) => d,
        Err(msg) => {
            return power_failure(
                lock,
                format!("Failed to change power state to '{target}': {msg}"),
            )
            .await;
        }
    };
    let current = lock.node.power_state;
    let already = matches!(target, PowerTarget::On | PowerTarget::Off)
        && current == Some(target.resulting_state());
    let result = if already {
        Ok(target.resulting_state())
    } else {
        let timeout = timeout.map(Duration::from_secs);
        driver
            .power
            .set_power_state(&lock.node, target, timeout)
            .await
    };
    match result {
        Ok(state) => {
            lock.release(move |n, _| {
                n.power_state = Some(state);
                n.target_power_state = None;
                n.last_error = None;
                Ok(())
            })
            .await
        }
        Err(e) => {
            power_failure(
                lock,
                format!("Failed to change power state to '{target}': {e}"),
            )
            .await
        }
    }
}

/// Ends a management change: when it worked, records its effect and
/// clears `last_error` as the lock is released; otherwise reports
/// `failure` with the driver's reason.
async fn finish<F>(
    lock: &mut Locked,
    result: Result<(), String>,
    record: F,
    failure: String,
) -> Result<(), FlowError>
where
    F: FnOnce(&mut ferrite_model::Node) + Send + 'static,
{
    match result {
        Ok(()) => {
            lock.release(move |n, _| {
                record(n);
                n.last_error = None;
                Ok(())
            })
            .await
        }
        Err(e) => report_failure(lock, format!("{failure}: {e}")).await,
    }
}

/// Switches the boot mode and records it in `boot_mode`.
pub(crate) async fn boot_mode(lock: &mut Locked, mode: String) -> Result<(), FlowError> {
    let result = match driver_for(lock, &[K::Management]).await {
        Ok(driver) => driver
            .management
            .set_boot_mode(&lock.node, &mode)
            .await
            .map_err(|e| e.to_string()),
        Err(msg) => Err(msg),
    };
    let failure = format!("Failed to set the boot mode to {mode}");
    finish(lock, result, move |n| n.boot_mode = Some(mode), failure).await
}

/// Turns secure boot on or off and records it in `secure_boot`.
pub(crate) async fn secure_boot(lock: &mut Locked, enabled: bool) -> Result<(), FlowError> {
    let result = match driver_for(lock, &[K::Management]).await {
        Ok(driver) => driver
            .management
            .set_secure_boot(&lock.node, enabled)
            .await
            .map_err(|e| e.to_string()),
        Err(msg) => Err(msg),
    };
    let failure = format!("Failed to set secure boot to {enabled}");
    finish(
        lock,
        result,
        move |n| n.secure_boot = Some(enabled),
        failure,
    )
    .await
}

/// Starts or stops the console and records `console_enabled`.
pub(crate) async fn console(lock: &mut Locked, enabled: bool) -> Result<(), FlowError> {
    let result = match driver_for(lock, &[K::Console]).await {
        Ok(driver) if enabled => driver
            .console
            .start_console(&lock.node)
            .await
            .map_err(|e| e.to_string()),
        Ok(driver) => driver
            .console
            .stop_console(&lock.node)
            .await
            .map_err(|e| e.to_string()),
        Err(msg) => Err(msg),
    };
    let failure = format!(
        "Failed to {} the console",
        if enabled { "start" } else { "stop" }
    );
    finish(lock, result, move |n| n.console_enabled = enabled, failure).await
}
