import asyncio
import weakref

from yellowbox_realtime.core.deadlines import Deadlines


async def test_deadlines_fire_in_order_and_cancelled_ones_do_not() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop)
    fired: list[str] = []
    done = asyncio.Event()
    deadlines.after(0.03, lambda: fired.append("late"))
    deadlines.after(0.01, lambda: fired.append("early"))
    cancelled = deadlines.after(0.02, lambda: fired.append("cancelled"))
    deadlines.after(0.04, done.set)
    cancelled.cancel()
    await asyncio.wait_for(done.wait(), 2)
    assert fired == ["early", "late"]


async def test_an_earlier_deadline_added_later_rearms_the_timer() -> None:
    loop = asyncio.get_running_loop()
    deadlines = Deadlines(loop)
    order: list[str] = []
    done = asyncio.Event()
    deadlines.after(0.5, lambda: order.append("slow"))
    def fast() -> None:
        order.append("fast")
        done.set()

    deadlines.after(0.01, fast)
    await asyncio.wait_for(done.wait(), 2)
    assert order == ["fast"]
    deadlines.close()


async def test_a_cancelled_deadline_lets_go_of_what_it_would_have_called() -> None:
    deadlines = Deadlines(asyncio.get_running_loop())

    class Session:
        def expire(self) -> None:
            raise AssertionError("cancelled")

    session = Session()
    gone = weakref.ref(session)
    deadline = deadlines.after(3600, session.expire)
    deadline.cancel()
    del session
    # Still in the heap for an hour, but no longer holding the session.
    assert gone() is None
    deadlines.close()
