/// ISO 8601 dates and date-times in interaction files, as seconds since 1970-01-01 UTC.
///
/// Accepted: `YYYY-MM-DD`, optionally followed by `T` (or one space) and `HH:MM`, `HH:MM:SS` or
/// `HH:MM:SS.fff`, optionally followed by a zone: `Z`, `+HH:MM`, `+HHMM` or `+HH` (or `-`). A
/// time without a zone is UTC. Years 0000...9999 (proleptic Gregorian calendar).
enum Timestamps {
    struct Problem: Error { let reason: String }

    /// Whether text starts as a date does (four digits, then '-'): its errors then say what a
    /// date must look like rather than that a number was expected.
    static func looksLikeDate(_ text: Substring) -> Bool {
        let u = Array(text.utf8.prefix(5))
        return u.count == 5 && u[0..<4].allSatisfy { $0 >= 0x30 && $0 <= 0x39 } && u[4] == 0x2D
    }

    /// Days from 1970-01-01 to year-month-day (Howard Hinnant's days_from_civil).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    static func parseISO8601(_ text: Substring) -> Result<Double, Problem> {
        let u = Array(text.utf8)
        var i = 0
        func digits(_ n: Int) -> Int? {
            guard i + n <= u.count else { return nil }
            var v = 0
            for k in i..<(i + n) {
                guard u[k] >= 0x30 && u[k] <= 0x39 else { return nil }
                v = v * 10 + Int(u[k] - 0x30)
            }
            i += n
            return v
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < u.count && u[i] == c else { return false }
            i += 1
            return true
        }
        guard let year = digits(4), expect(0x2D), let month = digits(2), expect(0x2D), let day = digits(2) else {
            return .failure(Problem(reason: "a date is YYYY-MM-DD"))
        }
        guard month >= 1 && month <= 12 else { return .failure(Problem(reason: "month \(month) is not 1...12")) }
        guard day >= 1 && day <= daysIn(month: month, year: year) else {
            return .failure(Problem(reason: "day \(day) is not in month \(month) of \(year)"))
        }
        var seconds = Double(daysFromCivil(year: year, month: month, day: day)) * 86400
        guard i < u.count else { return .success(seconds) }
        guard u[i] == 0x54 || u[i] == 0x74 || u[i] == 0x20 else {
            return .failure(Problem(reason: "after the date expected 'T' and a time (HH:MM:SS) or nothing"))
        }
        i += 1
        guard let hour = digits(2), expect(0x3A), let minute = digits(2) else {
            return .failure(Problem(reason: "a time is HH:MM or HH:MM:SS"))
        }
        var second = 0.0
        if expect(0x3A) {
            guard let s = digits(2) else { return .failure(Problem(reason: "seconds are two digits")) }
            second = Double(s)
            if expect(0x2E) || expect(0x2C) {
                var scale = 0.1, any = false
                while i < u.count && u[i] >= 0x30 && u[i] <= 0x39 {
                    second += Double(u[i] - 0x30) * scale
                    scale /= 10
                    i += 1
                    any = true
                }
                guard any else { return .failure(Problem(reason: "a fraction of a second needs digits")) }
            }
        }
        guard hour <= 23 else { return .failure(Problem(reason: "hour \(hour) is not 0...23")) }
        guard minute <= 59 else { return .failure(Problem(reason: "minute \(minute) is not 0...59")) }
        guard second < 61 else { return .failure(Problem(reason: "second \(Int(second)) is not 0...60")) }
        seconds += Double(hour * 3600 + minute * 60) + second
        guard i < u.count else { return .success(seconds) }
        if u[i] == 0x5A || u[i] == 0x7A {
            i += 1
        } else if u[i] == 0x2B || u[i] == 0x2D {
            let sign = u[i] == 0x2B ? 1.0 : -1.0
            i += 1
            guard let zh = digits(2), zh <= 23 else { return .failure(Problem(reason: "a zone is Z, +HH:MM, +HHMM or +HH")) }
            var zm = 0
            if i < u.count {
                _ = expect(0x3A)
                guard let m = digits(2), m <= 59 else { return .failure(Problem(reason: "a zone is Z, +HH:MM, +HHMM or +HH")) }
                zm = m
            }
            seconds -= sign * Double(zh * 3600 + zm * 60)
        } else {
            return .failure(Problem(reason: "after the time expected a zone (Z, +HH:MM) or nothing"))
        }
        guard i == u.count else { return .failure(Problem(reason: "unexpected text after the zone")) }
        return .success(seconds)
    }
}
