//! A shutdown signal that many servers can wait on: a multi-consumer oneshot.

use tokio::sync::watch;

/// Fires the signal; dropping it fires it too, so a crashed owner never leaves servers running.
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

/// Waits for the signal. Clone one per server.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

/// A connected trigger and signal.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    /// Asks every holder of a [`Shutdown`] to stop.
    pub fn fire(&self) {
        // send_replace never fails, even when every receiver is gone.
        self.0.send_replace(true);
    }
}

impl Drop for Trigger {
    fn drop(&mut self) {
        self.fire();
    }
}

impl Shutdown {
    /// Resolves once the trigger fired or was dropped.
    pub async fn wait(&mut self) {
        // An error means the sender is gone, which counts as shutdown.
        let _ = self.0.wait_for(|fired| *fired).await;
    }

    /// Whether shutdown has been asked for already.
    pub fn is_fired(&self) -> bool {
        *self.0.borrow()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fire_reaches_every_clone() {
        let (trigger, shutdown) = channel();
        let mut a = shutdown.clone();
        let mut b = shutdown;
        trigger.fire();
        a.wait().await;
        b.wait().await;
        assert!(a.is_fired());
    }

    #[tokio::test]
    async fn dropping_the_trigger_shuts_down() {
        let (trigger, mut shutdown) = channel();
        drop(trigger);
        shutdown.wait().await;
    }
}
