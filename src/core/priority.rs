//! The request-priority marker. Work someone waits for (a desired change, a retry, a write)
//! is *foreground*; the listing of a periodic full sweep runs inside [`background`], and the
//! client-side pacing (`aws::pacing`) lets such requests take a token only when no foreground
//! request is owed one. The engine marks the work; the pacing reads the mark: neither knows
//! the other.

use std::future::Future;

tokio::task_local! {
    static BACKGROUND: ();
}

/// Runs `fut` with every AWS request it makes paced as background work.
pub async fn background<F: Future>(fut: F) -> F::Output {
    BACKGROUND.scope((), fut).await
}

/// True inside [`background`].
pub fn in_background() -> bool {
    BACKGROUND.try_with(|_| ()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_mark_holds_inside_background_only() {
        assert!(!in_background());
        assert!(background(async { in_background() }).await);
        assert!(!in_background());
    }
}
