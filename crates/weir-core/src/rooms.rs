//! The P2P signaling server's room list, as the management API sees it
//! (ZLMediaKit `/index/api/listWebrtcRooms`).

/// Read access to the rooms registered on the P2P signaling server. The signaling adapter
/// implements it; the HTTP front lists the rooms through it without depending on the adapter.
pub trait RoomDirectory: Send + Sync {
    /// The rooms as a JSON array:
    /// `[{"room_id","tours":[{"guest_id","room_id"}],"guests":[{"guest_id"}]}]`, empty when none.
    fn rooms_json(&self) -> serde_json::Value;
}
